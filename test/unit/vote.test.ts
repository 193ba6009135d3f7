import { describe, expect, it } from 'vitest';
import { TrackVote } from '../../src/match/vote.ts';
import { AttemptScheduler, type AttemptPolicy } from '../../src/track/attempts.ts';

const policy: AttemptPolicy = { maxAttempts: 3, attemptIntervalMs: 200, minQuality: 0.5, qualityWaitMs: 1000, retryAfterMs: 600, reverifyMs: 0 };

describe('AttemptScheduler', () => {
  it('takes the first frame that passes the quality floor', () => {
    const s = new AttemptScheduler(policy, 0);
    expect(s.claim(0.3, 0)).toBe(false);
    expect(s.claim(0.49, 100)).toBe(false);
    expect(s.claim(0.5, 150)).toBe(true);
    expect(s.count).toBe(1);
  });

  it('waives the floor once qualityWaitMs has passed without an attempt', () => {
    const s = new AttemptScheduler(policy, 0);
    expect(s.claim(0.2, 999)).toBe(false);
    expect(s.claim(0.2, 1000)).toBe(true);
    // The wait counts from the last attempt now.
    expect(s.claim(0.1, 1999)).toBe(false);
    expect(s.claim(0.1, 2000)).toBe(true);
  });

  it('keeps attempts at least attemptIntervalMs apart', () => {
    const s = new AttemptScheduler(policy, 0);
    expect(s.claim(0.6, 0)).toBe(true);
    expect(s.claim(0.9, 199)).toBe(false);
    expect(s.claim(0.9, 200)).toBe(true);
  });

  it('after the first attempt, prefers better frames until retryAfterMs has gone by', () => {
    const s = new AttemptScheduler(policy, 0);
    expect(s.claim(0.7, 0)).toBe(true);
    expect(s.claim(0.7, 300)).toBe(false); // not better than 0.7
    expect(s.claim(0.65, 500)).toBe(false);
    expect(s.claim(0.65, 600)).toBe(true); // retryAfterMs since the last attempt
    expect(s.claim(0.71, 800)).toBe(true); // better than the best attempted (0.7)
  });

  it('stops at maxAttempts', () => {
    const s = new AttemptScheduler(policy, 0);
    const claimed = [0, 200, 400, 600, 800, 5000].map((t, i) => s.claim(0.6 + i * 0.05, t));
    expect(claimed).toEqual([true, true, true, false, false, false]);
    expect(s.exhausted).toBe(true);
    expect(s.count).toBe(3);
  });

  it('after maxAttempts, re-checks the track every reverifyMs', () => {
    const s = new AttemptScheduler({ ...policy, reverifyMs: 2000 }, 0);
    const claimed = [0, 200, 400, 1000, 2300, 2500, 4300, 4500].map((t, i) => s.claim(Math.min(0.6 + i * 0.1, 1), t));
    expect(claimed).toEqual([true, true, true, false, false, true, false, true]);
  });

  it('refuses bad input', () => {
    expect(() => new AttemptScheduler({ ...policy, maxAttempts: 0 }, 0)).toThrow(/maxAttempts/);
    const s = new AttemptScheduler(policy, 0);
    expect(() => s.claim(NaN, 0)).toThrow(/quality must be in \[0, 1\]/);
    expect(() => s.claim(1.2, 0)).toThrow(/quality must be in \[0, 1\]/);
    expect(() => s.claim(0.5, Infinity)).toThrow(/time must be finite/);
  });
});

describe('TrackVote', () => {
  it('has no leader and no votes when empty', () => {
    expect(new TrackVote().summary()).toEqual({ identityId: null, share: 0, meanScore: NaN, votes: 0, unknownVotes: 0 });
  });

  it('weights attempts by quality: one good frame outweighs two poor ones', () => {
    const vote = new TrackVote();
    vote.add({ identityId: 1, score: 0.91, quality: 0.2 });
    vote.add({ identityId: 1, score: 0.92, quality: 0.2 });
    vote.add({ identityId: 2, score: 0.95, quality: 0.9 });
    const summary = vote.summary();
    expect(summary.identityId).toBe(2);
    expect(summary.share).toBeCloseTo(0.9 / 1.3, 12);
    expect(summary.meanScore).toBeCloseTo(0.95, 12);
    expect(summary.votes).toBe(3);
    expect(summary.unknownVotes).toBe(0);
  });

  it('gives the mean score of the leader’s attempts only', () => {
    const vote = new TrackVote();
    vote.add({ identityId: 4, score: 0.94, quality: 0.8 });
    vote.add({ identityId: 4, score: 0.96, quality: 0.6 });
    vote.add({ identityId: null, score: 0.4, quality: 0.5 });
    expect(vote.summary()).toMatchObject({ identityId: 4, votes: 3, unknownVotes: 1 });
    expect(vote.summary().meanScore).toBeCloseTo(0.95, 12);
    expect(vote.summary().share).toBeCloseTo(1.4 / 1.9, 12);
  });

  it('lets unknown lead when most weight matched nobody', () => {
    const vote = new TrackVote();
    vote.add({ identityId: null, score: 0.3, quality: 0.8 });
    vote.add({ identityId: null, score: 0.5, quality: 0.8 });
    vote.add({ identityId: 3, score: 0.92, quality: 0.5 });
    const summary = vote.summary();
    expect(summary.identityId).toBeNull();
    expect(summary.meanScore).toBeCloseTo(0.4, 12);
    expect(summary.share).toBeCloseTo(1.6 / 2.1, 12);
    expect(summary.unknownVotes).toBe(2);
  });

  it('breaks ties in weight by vote count, then mean score, then the lower id', () => {
    const byCount = new TrackVote();
    byCount.add({ identityId: 1, score: 0.99, quality: 0.6 });
    byCount.add({ identityId: 2, score: 0.9, quality: 0.3 });
    byCount.add({ identityId: 2, score: 0.9, quality: 0.3 });
    expect(byCount.summary().identityId).toBe(2);
    expect(byCount.summary().share).toBeCloseTo(0.5, 12);

    const byScore = new TrackVote();
    byScore.add({ identityId: 1, score: 0.91, quality: 0.5 });
    byScore.add({ identityId: 2, score: 0.95, quality: 0.5 });
    expect(byScore.summary().identityId).toBe(2);

    const byId = new TrackVote();
    byId.add({ identityId: 9, score: 0.93, quality: 0.5 });
    byId.add({ identityId: 5, score: 0.93, quality: 0.5 });
    expect(byId.summary().identityId).toBe(5);

    // Added in the other order, the same votes give the same leader.
    const reversed = new TrackVote();
    reversed.add({ identityId: 5, score: 0.93, quality: 0.5 });
    reversed.add({ identityId: 9, score: 0.93, quality: 0.5 });
    expect(reversed.summary().identityId).toBe(5);
  });

  it('counts frames of quality 0 with equal weights instead of dividing by zero', () => {
    const vote = new TrackVote();
    vote.add({ identityId: 1, score: 0.95, quality: 0 });
    vote.add({ identityId: 1, score: 0.95, quality: 0 });
    vote.add({ identityId: 2, score: 0.95, quality: 0 });
    expect(vote.summary().identityId).toBe(1);
    expect(vote.summary().share).toBeCloseTo(2 / 3, 12);
  });

  it('refuses attempts with a bad score or quality', () => {
    const vote = new TrackVote();
    expect(() => vote.add({ identityId: 1, score: NaN, quality: 0.5 })).toThrow(/score must be finite/);
    expect(() => vote.add({ identityId: 1, score: 0.9, quality: -0.1 })).toThrow(/quality must be in \[0, 1\]/);
    expect(vote.summary().votes).toBe(0);
  });
});
