// The cluster's moving parts against a real Redis (Debian's redis-server, started here on a free
// port): camera leases moving off a worker that lost Redis, infer workers committing each face once
// (two at a time on one track, and after one of them died holding entries), and a gateway resuming
// from its stored position.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCFACE_TEMPLATE } from '../../src/align/templates.ts';
import { GatewayFeed, type FeedEntry } from '../../src/cluster/gateway.ts';
import { InferWorker, type EntryOutcome } from '../../src/cluster/infer.ts';
import { CameraLeases } from '../../src/cluster/leases.ts';
import { ClusterKeys, ensureGroup, INFER_GROUP, readEntries } from '../../src/cluster/redis.ts';
import { parseTrack } from '../../src/cluster/track-state.ts';
import { encodeEvent, encodeFaceEntry, type FaceEntry } from '../../src/cluster/wire.ts';
import { parseConfig } from '../../src/config.ts';
import type { GalleryMatcher } from '../../src/match/policy.ts';
import type { Recognizer } from '../../src/models/types.ts';
import type { RgbImage } from '../../src/types.ts';
import { haveRedis, noRedisReason, RedisServer } from '../support/redis.ts';
import { landmarksFor } from '../unit/gallery-fakes.ts';

if (!haveRedis) console.warn(`cluster (Redis): skipped, ${noRedisReason}`);

const waitFor = async (check: () => boolean | Promise<boolean>, timeoutMs: number, what: string) => {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** Faces of person k are a region of one grey level: the stub recognizer reads the person off the crop. */
function region(person: number): RgbImage {
  return { width: 96, height: 96, data: new Uint8Array(96 * 96 * 3).fill(person * 20) };
}

const stubRecognizer: Recognizer = {
  id: 'stub',
  version: '1',
  dims: 2,
  template: ARCFACE_TEMPLATE,
  embed: async (crops) => crops.map((c) => Float32Array.from([c.data[c.data.length >> 1] / 20, 1])),
};

const people = new Map([1, 2, 3, 4].map((id) => [id, { id, name: `Person ${id}` }]));
const stubGallery: GalleryMatcher = {
  search: (e) => {
    const identity = people.get(Math.round(e[0]));
    return identity ? [{ identity, score: 0.9 }] : [];
  },
  identity: (id) => people.get(id),
};

function faceEntry(camera: string, trackId: number, person: number, frameSeq: number, frameTime = Date.now()): FaceEntry {
  // In the frame's coordinates: the region sits at (100, 50), the face 18 px into it.
  const box = { x: 118, y: 68, width: 60, height: 60 };
  return {
    camera,
    epoch: 1,
    sentAt: Date.now(),
    face: {
      observation: { camera, frameSeq, frameTime, trackId, quality: 0.9, face: { box, score: 0.9, landmarks: landmarksFor(box) } },
      region: { x: 100, y: 50, image: region(person) },
    },
    closedTracks: [],
  };
}

describe.skipIf(!haveRedis)('the cluster on a real Redis', () => {
  let server: RedisServer;
  const connections: Redis[] = [];
  const connect = () => {
    const redis = new Redis(server.url, { maxRetriesPerRequest: null, retryStrategy: () => 200 });
    redis.on('error', () => undefined);
    connections.push(redis);
    return redis;
  };

  beforeAll(async () => {
    server = await RedisServer.start();
  });

  afterAll(async () => {
    for (const c of connections) c.disconnect();
    await server?.close();
  });

  it("splits the cameras between two ingest workers, and one takes the other's over when it loses Redis", async () => {
    const keys = new ClusterKeys('leases-test');
    const cameras = ['door', 'lobby', 'yard'];
    const held: Record<string, Set<string>> = { a: new Set(), b: new Set() };
    const lost: string[] = [];
    /** When each worker last took and last let go of each camera. */
    const acquiredAt: Record<string, number> = {};
    const lostAt: Record<string, number> = {};
    const leaseMs = 900;
    const worker = (name: 'a' | 'b', redis: Redis) =>
      new CameraLeases(redis, keys, `ingest-${name}`, cameras, leaseMs, {
        acquired: (camera) => {
          held[name].add(camera);
          acquiredAt[`${name}:${camera}`] = Date.now();
        },
        lost: (camera) => {
          held[name].delete(camera);
          lost.push(`${name}:${camera}`);
          lostAt[`${name}:${camera}`] = Date.now();
        },
      });
    const redisA = connect();
    const a = worker('a', redisA);
    const b = worker('b', connect());
    await a.start();
    expect(held.a.size).toBe(3); // alone at first: every camera
    await b.start();
    // a lets one go at its next round (share ⌈3/2⌉ = 2), b takes it.
    await waitFor(() => held.a.size === 2 && held.b.size === 1, 5000, 'a 2 / 1 split');
    expect(await a.holders()).toEqual(Object.fromEntries(cameras.map((c) => [c, held.a.has(c) ? 'ingest-a' : 'ingest-b'])));
    const aHad = [...held.a];
    redisA.disconnect(); // a is cut off: it cannot renew
    const cutAt = Date.now();
    await waitFor(() => held.b.size === 3, 4 * leaseMs + 2000, 'b to hold every camera');
    await waitFor(() => held.a.size === 0, 2 * leaseMs, 'a to stop its cameras');
    expect(lost.filter((l) => l.startsWith('a:')).sort()).toEqual(expect.arrayContaining(aHad.map((c) => `a:${c}`)));
    for (const camera of aHad) {
      // a stops a camera just before the lease it last asked for can run out (counted from before its
      // request reached Redis, so within one lease of the cut), and so before b can take it: never
      // two workers on one camera.
      expect(lostAt[`a:${camera}`]! - cutAt, camera).toBeLessThanOrEqual(leaseMs);
      expect(lostAt[`a:${camera}`], camera).toBeLessThanOrEqual(acquiredAt[`b:${camera}`]!);
    }
    await b.stop();
    await a.stop().catch(() => undefined); // its Redis is gone: it can let nothing go, only stop trying
    expect(await connect().mget(cameras.map((c) => keys.lease(c)))).toEqual([null, null, null]);
  });

  describe('infer workers', () => {
    const config = parseConfig({ cluster: { claimIdleMs: 600, inferConcurrency: 4 }, match: { cooldownSec: 30 }, track: { maxAttempts: 5 } });

    async function startWorkers(keys: ClusterKeys, names: string[], outcomes: EntryOutcome[]) {
      const workers = names.map(
        (id) =>
          new InferWorker({
            config,
            redis: connect(),
            reader: connect(),
            keys,
            id,
            models: { recognizer: stubRecognizer },
            gallery: stubGallery,
            events: { alerts: true, attempts: true },
            onEntry: (outcome) => outcomes.push(outcome),
          }),
      );
      for (const w of workers) await w.start();
      return workers;
    }

    async function events(redis: Redis, keys: ClusterKeys): Promise<FeedEntry[]> {
      const { feedEntry } = await import('../../src/cluster/gateway.ts');
      return readEntries([[keys.events, await redis.callBuffer('XRANGE', keys.events, '-', '+')]]).flatMap((e) => feedEntry(e) ?? []);
    }

    it('two workers on the faces of two cameras: every track alerted once, every entry acknowledged, no vote lost', async () => {
      const keys = new ClusterKeys('infer-test');
      const redis = connect();
      const outcomes: EntryOutcome[] = [];
      const workers = await startWorkers(keys, ['infer-a', 'infer-b'], outcomes);
      // Track 1 on door: person 1, 6 attempts; track 2 on door: person 2; track 1 on lobby: person 2 again (another camera: its own alert).
      const entries = [
        ...Array.from({ length: 6 }, (_, i) => faceEntry('door', 1, 1, i)),
        ...Array.from({ length: 3 }, (_, i) => faceEntry('door', 2, 2, 10 + i)),
        ...Array.from({ length: 3 }, (_, i) => faceEntry('lobby', 1, 2, i)),
      ];
      for (const e of entries) await redis.xadd(keys.faces, '*', 'f', await encodeFaceEntry(e));
      await waitFor(() => outcomes.length === entries.length, 20_000, 'every entry done');
      const feed = await events(redis, keys);
      const alerts = feed.filter((e) => e.kind === 'alert').map((e) => `${e.alert!.camera}/${e.alert!.trackId}:${e.alert!.identity?.name}`);
      expect(alerts.sort()).toEqual(['door/1:Person 1', 'door/2:Person 2', 'lobby/1:Person 2']);
      // The others are attempts, each with its event, and the alert carries the face's box in the frame (the region sat at 100, 50).
      expect(feed.filter((e) => e.kind === 'attempt')).toHaveLength(entries.length - 3);
      expect(feed.find((e) => e.kind === 'alert')!.alert!.box).toEqual({ x: 118, y: 68, width: 60, height: 60 });
      expect(feed.find((e) => e.kind === 'alert')!.event!.source?.jpeg.length).toBeGreaterThan(100);
      const pending = (await redis.xpending(keys.faces, INFER_GROUP)) as [number, ...unknown[]];
      expect(pending[0]).toBe(0);
      // The 6 attempts of door/1 are all in its stored vote, whichever worker judged them.
      const track = parseTrack(await redis.get(keys.track('door', 1, 1)));
      expect(track.state.vote.summary().votes).toBe(6);
      expect(track.version).toBe(6);
      for (const w of workers) await w.stop();
    });

    it("takes over the entries of a worker that died holding them, and commits each once; the dead one's late commit is refused", async () => {
      const keys = new ClusterKeys('claim-test');
      const redis = connect();
      await ensureGroup(redis, keys.faces, INFER_GROUP);
      const entries = [faceEntry('door', 5, 3, 0), faceEntry('door', 5, 3, 1), faceEntry('door', 6, 4, 2)];
      for (const e of entries) await redis.xadd(keys.faces, '*', 'f', await encodeFaceEntry(e));
      // A worker reads them and dies before committing anything.
      const taken = readEntries(await redis.callBuffer('XREADGROUP', 'GROUP', INFER_GROUP, 'infer-dead', 'COUNT', 10, 'STREAMS', keys.faces, '>'));
      expect(taken).toHaveLength(3);
      const outcomes: EntryOutcome[] = [];
      const started = Date.now();
      const [survivor] = await startWorkers(keys, ['infer-survivor'], outcomes);
      await waitFor(() => outcomes.length === 3, 10_000, 'the survivor to finish the dead worker’s entries');
      expect(Date.now() - started).toBeGreaterThanOrEqual(config.cluster.claimIdleMs - 100);
      const feed = await events(redis, keys);
      expect(feed.filter((e) => e.kind === 'alert').map((e) => e.alert!.identity?.name).sort()).toEqual(['Person 3', 'Person 4']);
      expect(((await redis.xpending(keys.faces, INFER_GROUP)) as [number])[0]).toBe(0);
      // The dead worker comes back with its stale entry: it is no longer its own.
      const [zombie] = await startWorkers(keys, ['infer-dead'], outcomes);
      await zombie.stop();
      const commit = (zombie as unknown as { commit(id: string, e: FaceEntry, embedded: undefined): Promise<string> }).commit.bind(zombie);
      expect(await commit(taken[0].id, { ...entries[0], face: undefined }, undefined)).toBe('lost');
      expect((await events(redis, keys)).length).toBe(feed.length);
      await survivor.stop();
    });

    it('keeps the cool-down across workers and tracks: the same person on the same camera alerts once', async () => {
      const keys = new ClusterKeys('cooldown-test');
      const redis = connect();
      const outcomes: EntryOutcome[] = [];
      const workers = await startWorkers(keys, ['infer-c', 'infer-d'], outcomes);
      // Two tracks of person 1 on one camera (the tracker lost them in between), a third on another camera.
      const now = Date.now();
      const entries = [faceEntry('door', 1, 1, 0, now), faceEntry('door', 9, 1, 5, now + 2000), faceEntry('yard', 1, 1, 0, now)];
      for (const e of entries) await redis.xadd(keys.faces, '*', 'f', await encodeFaceEntry(e));
      await waitFor(() => outcomes.length === 3, 10_000, 'every entry done');
      expect(outcomes.filter((o) => o === 'held')).toHaveLength(1);
      const feed = await events(redis, keys);
      expect(feed.filter((e) => e.kind === 'alert').map((e) => e.alert!.camera).sort()).toEqual(['door', 'yard']);
      // The held-back decision is kept as an attempt, as the single process keeps it.
      expect(feed.filter((e) => e.kind === 'attempt')).toHaveLength(1);
      for (const w of workers) await w.stop();
    });

    it('lets go of the votes of closed tracks, and acknowledges an entry it cannot read', async () => {
      const keys = new ClusterKeys('closed-test');
      const redis = connect();
      const outcomes: EntryOutcome[] = [];
      const [worker] = await startWorkers(keys, ['infer-e'], outcomes);
      await redis.xadd(keys.faces, '*', 'f', await encodeFaceEntry(faceEntry('door', 3, 2, 0)));
      await waitFor(() => outcomes.length === 1, 10_000, 'the face');
      expect(await redis.exists(keys.track('door', 1, 3))).toBe(1);
      await redis.xadd(keys.faces, '*', 'f', await encodeFaceEntry({ camera: 'door', epoch: 1, sentAt: Date.now(), closedTracks: [3] }));
      await redis.xadd(keys.faces, '*', 'f', Buffer.from('garbage'));
      await waitFor(() => outcomes.length === 3, 10_000, 'the closing entry and the garbage');
      expect(outcomes.slice(1).sort()).toEqual(['closed', 'malformed']);
      expect(await redis.exists(keys.track('door', 1, 3))).toBe(0);
      expect(((await redis.xpending(keys.faces, INFER_GROUP)) as [number])[0]).toBe(0);
      await worker.stop();
    });
  });

  it('a gateway that restarts delivers what came while it was away, and nothing twice', async () => {
    const keys = new ClusterKeys('gateway-test');
    const redis = connect();
    const add = (n: number) =>
      redis.xadd(keys.events, '*', 'kind', 'alert', 'alert', JSON.stringify({ schema: 1, type: 'alert', camera: 'door', trackId: n, identity: null }), 'event', encodeEvent({
        kind: 'alert', camera: 'door', trackId: n, identity: null, known: false, score: 0.1, votes: 2, matchedOn: 'face', frameTime: n, box: { x: 0, y: 0, width: 1, height: 1 }, detectorScore: 0.9, faceJpeg: Buffer.from([n]),
      }));
    await add(0); // before the gateway ever ran: not its business
    const delivered: number[] = [];
    const start = async () => {
      const feed = new GatewayFeed(redis, connect(), keys, 'gateway-a', (e) => delivered.push(e.alert!.trackId));
      await feed.start();
      return feed;
    };
    let feed = await start();
    for (const n of [1, 2, 3]) await add(n);
    await waitFor(() => delivered.length === 3, 5000, 'three alerts');
    await feed.stop();
    for (const n of [4, 5]) await add(n);
    feed = await start();
    await waitFor(() => delivered.length === 5, 5000, 'the two that came while it was away');
    await add(6);
    await waitFor(() => delivered.length === 6, 5000, 'a live one');
    await feed.stop();
    expect(delivered).toEqual([1, 2, 3, 4, 5, 6]);
    // Another gateway has a position of its own: from its first start on, it gets what comes.
    const other: number[] = [];
    const b = new GatewayFeed(redis, connect(), keys, 'gateway-b', (e) => other.push(e.alert!.trackId));
    await b.start();
    await add(7);
    await waitFor(() => other.length === 1, 5000, 'gateway b');
    await b.stop();
    expect(other).toEqual([7]);
  });

  it('a starting gateway recalls the last alerts up to its position for replay, and delivers none of them again', async () => {
    const keys = new ClusterKeys('gateway-recall-test');
    const redis = connect();
    const add = (n: number) => redis.xadd(keys.events, '*', 'kind', 'alert', 'alert', JSON.stringify({ schema: 1, type: 'alert', camera: 'door', trackId: n, identity: null }));
    const attempt = () => redis.xadd(keys.events, '*', 'kind', 'attempt');
    for (const n of [1, 2, 3]) {
      await add(n);
      await attempt(); // attempts come between alerts: skipped
    }
    const delivered: FeedEntry[] = [];
    const start = async (count: number, recalled: FeedEntry[]) => {
      const feed = new GatewayFeed(redis, connect(), keys, 'gateway-a', (e) => delivered.push(e), { count, recall: (e) => recalled.push(e) });
      await feed.start();
      return feed;
    };
    const first: FeedEntry[] = [];
    let feed = await start(2, first);
    expect(first.map((e) => e.alert!.trackId)).toEqual([2, 3]);
    for (const n of [4, 5]) await add(n);
    await waitFor(() => delivered.length === 2, 5000, 'two alerts');
    await feed.stop();

    const again: FeedEntry[] = [];
    feed = await start(3, again);
    expect(again.map((e) => e.alert!.trackId)).toEqual([3, 4, 5]);
    // The same ids as when they were delivered: a subscriber's after=<id> finds them.
    expect(again.slice(1).map((e) => e.id)).toEqual(delivered.map((e) => e.id));
    await add(6);
    await waitFor(() => delivered.length === 3, 5000, 'a live one');
    await feed.stop();
    expect(delivered.map((e) => e.alert!.trackId)).toEqual([4, 5, 6]);
  });
});
