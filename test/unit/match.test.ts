import { describe, expect, it } from 'vitest';
import { Cooldown, knownKey, unknownKey } from '../../src/match/cooldown.ts';
import { TrackAlerts, alertVerdict, decideScore, type AlertPolicy } from '../../src/match/decide.ts';
import type { VoteSummary } from '../../src/match/vote.ts';

const thresholds = { threshold: 0.93, unknownThreshold: 0.9 };

describe('decideScore', () => {
  it('is known at and above the match threshold', () => {
    expect(decideScore(0.93, thresholds)).toBe('known');
    expect(decideScore(0.99, thresholds)).toBe('known');
  });

  it('is undecided from the unknown threshold up to just below the match threshold', () => {
    expect(decideScore(0.9, thresholds)).toBe('undecided');
    expect(decideScore(0.9299999, thresholds)).toBe('undecided');
  });

  it('is unknown below the unknown threshold', () => {
    expect(decideScore(0.8999999, thresholds)).toBe('unknown');
    expect(decideScore(-1, thresholds)).toBe('unknown');
  });

  it('has no undecided band when both thresholds are equal', () => {
    const equal = { threshold: 0.5, unknownThreshold: 0.5 };
    expect(decideScore(0.5, equal)).toBe('known');
    expect(decideScore(0.4999, equal)).toBe('unknown');
  });

  it('refuses a non-finite score and inverted thresholds', () => {
    expect(() => decideScore(NaN, thresholds)).toThrow(/score must be a finite number, got NaN/);
    expect(() => decideScore(0.5, { threshold: 0.5, unknownThreshold: 0.6 })).toThrow(/unknownThreshold ≤ threshold/);
  });
});

const summary = (s: Partial<VoteSummary>): VoteSummary => ({
  identityId: null,
  share: 1,
  meanScore: 0.95,
  votes: 1,
  unknownVotes: 0,
  ...s,
});
const policy: AlertPolicy = { ...thresholds, alertUnknown: true, maxAttempts: 5 };

describe('alertVerdict', () => {
  it('alerts a known leader with more than half the weight and a mean score at the threshold', () => {
    expect(alertVerdict(summary({ identityId: 1, share: 0.51, meanScore: 0.93, votes: 3 }), policy)).toEqual({
      kind: 'known',
      identityId: 1,
      score: 0.93,
      share: 0.51,
      votes: 3,
    });
  });

  it('does not alert a known leader at exactly half the weight, or with an undecided mean score', () => {
    expect(alertVerdict(summary({ identityId: 1, share: 0.5, votes: 2 }), policy)).toBeNull();
    expect(alertVerdict(summary({ identityId: 1, share: 1, meanScore: 0.92 }), policy)).toBeNull();
  });

  it('alerts unknown after two attempts, all unknown, and only when asked', () => {
    const oneMiss = summary({ identityId: null, meanScore: 0.4, votes: 1, unknownVotes: 1 });
    const twoMisses = summary({ identityId: null, meanScore: 0.4, votes: 2, unknownVotes: 2 });
    expect(alertVerdict(oneMiss, policy)).toBeNull();
    expect(alertVerdict(twoMisses, policy)).toEqual({ kind: 'unknown', score: 0.4, votes: 2 });
    expect(alertVerdict(twoMisses, { ...policy, alertUnknown: false })).toBeNull();
  });

  it('does not alert unknown when some attempt matched someone', () => {
    const mixed = summary({ identityId: null, share: 0.7, meanScore: 0.4, votes: 3, unknownVotes: 2 });
    expect(alertVerdict(mixed, policy)).toBeNull();
  });

  it('alerts unknown after a single attempt when that is all the track gets', () => {
    const oneMiss = summary({ identityId: null, meanScore: 0.4, votes: 1, unknownVotes: 1 });
    expect(alertVerdict(oneMiss, { ...policy, maxAttempts: 1 })).toEqual({ kind: 'unknown', score: 0.4, votes: 1 });
  });

  it('says nothing without votes', () => {
    expect(alertVerdict(summary({ identityId: null, share: 0, meanScore: NaN, votes: 0 }), policy)).toBeNull();
  });
});

describe('TrackAlerts', () => {
  it('raises a known alert once per identity and an unknown alert once', () => {
    const alerts = new TrackAlerts();
    const unknown = summary({ identityId: null, meanScore: 0.4, votes: 2, unknownVotes: 2 });
    expect(alerts.next(unknown, policy)?.kind).toBe('unknown');
    expect(alerts.next({ ...unknown, votes: 3, unknownVotes: 3 }, policy)).toBeNull();

    const aliceLeads = summary({ identityId: 1, share: 0.6, votes: 5, unknownVotes: 2 });
    expect(alerts.next(aliceLeads, policy)).toMatchObject({ kind: 'known', identityId: 1 });
    expect(alerts.next(aliceLeads, policy)).toBeNull();
    // The tracker swapped people and the vote moved to someone else: that is a new alert.
    expect(alerts.next({ ...aliceLeads, identityId: 2 }, policy)).toMatchObject({ kind: 'known', identityId: 2 });
  });
});

describe('Cooldown', () => {
  it('suppresses a key for cooldownSec after it alerts, then lets it alert again', () => {
    const cooldown = new Cooldown(30);
    const key = knownKey('door', 1);
    expect(cooldown.shouldAlert(key, 1_000)).toBe(true);
    expect(cooldown.shouldAlert(key, 1_001)).toBe(false);
    expect(cooldown.shouldAlert(key, 30_999)).toBe(false);
    expect(cooldown.shouldAlert(key, 31_000)).toBe(true);
    // The cool-down restarted at 31 000.
    expect(cooldown.shouldAlert(key, 45_000)).toBe(false);
  });

  it('keeps keys apart: identity and camera, and unknown faces per track', () => {
    const cooldown = new Cooldown(30);
    expect(cooldown.shouldAlert(knownKey('door', 1), 0)).toBe(true);
    expect(cooldown.shouldAlert(knownKey('door', 2), 0)).toBe(true);
    expect(cooldown.shouldAlert(knownKey('yard', 1), 0)).toBe(true);
    expect(cooldown.shouldAlert(unknownKey('door', 1), 0)).toBe(true);
    expect(cooldown.shouldAlert(unknownKey('door', 2), 0)).toBe(true);
    expect(cooldown.shouldAlert(unknownKey('door', 1), 10)).toBe(false);
    expect(knownKey('door', 1)).not.toBe(unknownKey('door', 1));
  });

  it('treats a frame slightly older than the last alert as within the cool-down', () => {
    const cooldown = new Cooldown(30);
    expect(cooldown.shouldAlert('k', 10_000)).toBe(true);
    expect(cooldown.shouldAlert('k', 9_500)).toBe(false);
  });

  it('forgets expired keys, so memory follows the alert rate', () => {
    const cooldown = new Cooldown(1);
    for (let i = 0; i < 50; i++) cooldown.shouldAlert(`key${i}`, i * 100);
    // At 4 900 ms only keys that alerted after 3 900 ms are still cooling down.
    expect(cooldown.size).toBe(10);
    cooldown.shouldAlert('late', 100_000);
    expect(cooldown.size).toBe(1);
  });

  it('holds at most maxKeys, forgetting the oldest', () => {
    const cooldown = new Cooldown(60, 3);
    for (const key of ['a', 'b', 'c', 'd']) expect(cooldown.shouldAlert(key, 0)).toBe(true);
    expect(cooldown.size).toBe(3);
    expect(cooldown.shouldAlert('d', 1)).toBe(false);
    expect(cooldown.shouldAlert('a', 1)).toBe(true); // forgotten, so it alerts again
  });

  it('never suppresses with a cool-down of 0 and holds nothing', () => {
    const cooldown = new Cooldown(0);
    expect(cooldown.shouldAlert('k', 0)).toBe(true);
    expect(cooldown.shouldAlert('k', 0)).toBe(true);
    expect(cooldown.size).toBe(0);
  });

  it('refuses bad settings and times', () => {
    expect(() => new Cooldown(-1)).toThrow(/cooldownSec must be a finite number ≥ 0/);
    expect(() => new Cooldown(5, 0)).toThrow(/maxKeys/);
    expect(() => new Cooldown(5).shouldAlert('k', NaN)).toThrow(/now must be a finite time/);
  });
});
