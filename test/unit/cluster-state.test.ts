// The cluster's pure parts: a track's vote as stored in Redis, how workers share the camera leases,
// the cameras as a gateway shows them, and the events stream's entries.
import { describe, expect, it } from 'vitest';
import { clusterCameraViews } from '../../src/cluster/cameras.ts';
import { compareIds, feedEntry } from '../../src/cluster/gateway.ts';
import { planLeases } from '../../src/cluster/leases.ts';
import { freshTrack, parseTrack, trackJson } from '../../src/cluster/track-state.ts';
import { encodeEvent } from '../../src/cluster/wire.ts';
import { TrackAlerts } from '../../src/match/decide.ts';
import { TrackVote } from '../../src/match/vote.ts';

const policy = { threshold: 0.4, unknownThreshold: 0.3, alertUnknown: true, maxAttempts: 5 };

describe("a track's state in Redis", () => {
  it('comes back with the same vote, the same alerts raised, and its version', () => {
    const state = freshTrack();
    state.vote.add({ identityId: 3, score: 0.62, quality: 0.9 });
    state.vote.add({ identityId: null, score: 0.1, quality: 0.4 });
    state.vote.add({ identityId: 3, score: 0.55, quality: 0.7 });
    expect(state.alerts.next(state.vote.summary(), policy)?.kind).toBe('known');
    const back = parseTrack(`4:${trackJson(state)}`);
    expect(back.version).toBe(4);
    expect(back.state.vote.summary()).toEqual(state.vote.summary());
    // Identity 3 was alerted: not again from the restored state either.
    expect(back.state.alerts.next(back.state.vote.summary(), policy)).toBeNull();
    back.state.vote.add({ identityId: 5, score: 0.9, quality: 1 });
    state.vote.add({ identityId: 5, score: 0.9, quality: 1 });
    expect(back.state.vote.summary()).toEqual(state.vote.summary());
  });

  it('is a fresh track at version 0 when nothing is stored; unreadable JSON starts over at the stored version', () => {
    expect(parseTrack(null).version).toBe(0);
    expect(parseTrack(null).state.vote.summary().votes).toBe(0);
    const broken = parseTrack('7:{"vote":');
    expect(broken.version).toBe(7);
    expect(broken.state.vote.summary().votes).toBe(0);
    expect(() => parseTrack('{"vote":{}}')).toThrow(/version:/);
  });

  it('refuses a tally that no vote could have made', () => {
    expect(() => TrackVote.from({ tally: [[1, -1, 0.5, 1]] })).toThrow(RangeError);
    expect(() => TrackVote.from({ tally: [[1, 0.5, 0.5, 0]] })).toThrow(RangeError);
    expect(TrackAlerts.from({ identities: [2], unknown: true }).state()).toEqual({ identities: [2], unknown: true });
  });
});

describe('camera leases', () => {
  const cameras = ['a', 'b', 'c', 'd', 'e'];

  it('a lone worker takes every camera; two take three and two', () => {
    expect(planLeases('w1', cameras, [], cameras, 1).acquire.sort()).toEqual(cameras);
    expect(planLeases('w1', cameras, [], cameras, 2).acquire).toHaveLength(3);
  });

  it('a worker over its share lets the excess go, and takes nothing', () => {
    const plan = planLeases('w1', cameras, cameras, [], 2);
    expect(plan.release).toHaveLength(2);
    expect(plan.acquire).toEqual([]);
  });

  it('tops up to its share from the free cameras only', () => {
    const plan = planLeases('w1', cameras, ['a'], ['c', 'e'], 2);
    expect(plan.release).toEqual([]);
    expect(plan.acquire.sort()).toEqual(['c', 'e']);
    expect(planLeases('w1', cameras, ['a', 'b', 'c'], ['d', 'e'], 2)).toEqual({ release: [], acquire: [] });
  });

  it('two workers starting together prefer different cameras', () => {
    const many = Array.from({ length: 40 }, (_, i) => `cam${i}`);
    const first = planLeases('ingest-a', many, [], many, 2).acquire;
    const second = planLeases('ingest-b', many, [], many, 2).acquire;
    const both = first.filter((c) => second.includes(c));
    // Independent orders: about a quarter overlap, never all.
    expect(both.length).toBeLessThan(first.length * 0.6);
  });

  it('with no live worker counted (its own heartbeat not seen yet), still takes a share', () => {
    expect(planLeases('w1', ['a'], [], ['a'], 0).acquire).toEqual(['a']);
  });
});

describe('the cameras as a gateway shows them', () => {
  const now = Date.parse('2026-12-03T10:00:10Z');
  const report = (heldBy: string, at: string) =>
    JSON.stringify({ name: 'door', state: 'live', since: '2026-12-03T09:00:00Z', restarts: 1, fps: 4.9, framesIn: 500, framesDropped: 2, heldBy, epoch: 3, reportedAt: at });

  it("the holder's fresh report as it is", () => {
    const [view] = clusterCameraViews(['door'], ['ingest-a'], { door: report('ingest-a', '2026-12-03T10:00:09Z') }, now, 15_000);
    expect(view).toMatchObject({ name: 'door', state: 'live', heldBy: 'ingest-a', fps: 4.9, epoch: 3 });
  });

  it('retrying with the reason when nobody holds it, the report is stale, or it came from the former holder', () => {
    const nobody = clusterCameraViews(['door'], [null], { door: report('ingest-a', '2026-12-03T10:00:09Z') }, now, 15_000)[0];
    expect(nobody).toMatchObject({ state: 'retrying', heldBy: null, lastError: 'no ingest worker holds this camera', fps: 0 });
    const stale = clusterCameraViews(['door'], ['ingest-a'], { door: report('ingest-a', '2026-12-03T09:59:00Z') }, now, 15_000)[0];
    expect(stale).toMatchObject({ state: 'retrying', heldBy: 'ingest-a', lastError: 'no report from ingest-a for over 15000 ms' });
    const former = clusterCameraViews(['door'], ['ingest-b'], { door: report('ingest-a', '2026-12-03T10:00:09Z') }, now, 15_000)[0];
    expect(former.state).toBe('retrying');
    expect(clusterCameraViews(['door'], ['ingest-a'], { door: '{not json' }, now, 15_000)[0].state).toBe('retrying');
  });
});

describe('the events stream', () => {
  it('orders ids by time, then sequence', () => {
    expect(compareIds('1700000000000-2', '1700000000000-10')).toBeLessThan(0);
    expect(compareIds('1700000000001-0', '1700000000000-10')).toBeGreaterThan(0);
    expect(compareIds('5-5', '5-5')).toBe(0);
  });

  it('an alert entry carries its payload and its event; an unknown kind is skipped', () => {
    const alert = { schema: 1, type: 'alert', identity: { id: 1, name: 'Ada' }, camera: 'door' };
    const event = encodeEvent({
      kind: 'alert', camera: 'door', trackId: 1, identity: { id: 1, name: 'Ada' }, known: true, score: 0.5, votes: 1, matchedOn: 'face',
      frameTime: 1, box: { x: 0, y: 0, width: 1, height: 1 }, detectorScore: 0.9, faceJpeg: Buffer.from([1]),
    });
    const entry = feedEntry({ id: '1-0', fields: new Map([['kind', Buffer.from('alert')], ['alert', Buffer.from(JSON.stringify(alert))], ['event', event]]) });
    expect(entry?.alert).toEqual(alert);
    expect(entry?.event?.identity).toEqual({ id: 1, name: 'Ada' });
    expect(feedEntry({ id: '1-1', fields: new Map([['kind', Buffer.from('other')]]) })).toBeUndefined();
    expect(feedEntry({ id: '1-2', fields: new Map([['kind', Buffer.from('alert')]]) })).toBeUndefined();
  });
});
