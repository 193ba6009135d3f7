// Recognition per track: which frames of a track get a recognition attempt, and the
// quality-weighted vote over the attempts it got.

export interface AttemptPolicy {
  /** Attempts a track gets at most. */
  maxAttempts: number;
  /** Least time (ms) between two attempts. */
  attemptIntervalMs: number;
  /** Quality a frame needs for an attempt… */
  minQuality: number;
  /** …unless this long (ms) has passed since the last attempt (or the track's start) without one. */
  qualityWaitMs: number;
  /** A later attempt needs a frame better than every one attempted so far, or this long (ms) since the last attempt. */
  retryAfterMs: number;
  /**
   * Once all attempts are used, one more every this long (ms; 0: never), so that a track the tracker
   * carried over to another person (a cut, people passing) is noticed and re-identified.
   */
  reverifyMs: number;
}

/**
 * Decides, frame by frame, whether a track's face gets a recognition attempt. The first attempt goes
 * as soon as a frame passes the quality floor, so a known face alerts early; later ones go to frames
 * better than any attempted so far (the person came closer, stopped moving), or to any passing frame
 * once retryAfterMs has gone by, never closer than attemptIntervalMs and never more than maxAttempts.
 */
export class AttemptScheduler {
  private attempts = 0;
  private lastAttempt: number;
  private bestQuality = -Infinity;

  /** `firstSeen`: time (ms) of the track's first frame. */
  constructor(
    private readonly policy: AttemptPolicy,
    firstSeen: number,
  ) {
    if (!(Number.isInteger(policy.maxAttempts) && policy.maxAttempts >= 1))
      throw new RangeError(`AttemptScheduler: maxAttempts must be an integer ≥ 1, got ${policy.maxAttempts}`);
    if (!Number.isFinite(firstSeen)) throw new RangeError(`AttemptScheduler: firstSeen must be a finite time, got ${firstSeen}`);
    this.lastAttempt = firstSeen;
  }

  /** Attempts claimed so far. */
  get count(): number {
    return this.attempts;
  }

  /** True once the track has used all its attempts: no frame of it will be recognised again. */
  get exhausted(): boolean {
    return this.attempts >= this.policy.maxAttempts;
  }

  /**
   * Whether the frame of quality `quality` at `time` should get a recognition attempt; when it
   * should, the attempt is counted (call once per frame of the track, in time order).
   */
  claim(quality: number, time: number): boolean {
    if (!(quality >= 0 && quality <= 1)) throw new RangeError(`AttemptScheduler: quality must be in [0, 1], got ${quality}`);
    if (!Number.isFinite(time)) throw new RangeError(`AttemptScheduler: time must be finite, got ${time}`);
    if (this.exhausted) {
      if (this.policy.reverifyMs <= 0 || time - this.lastAttempt < this.policy.reverifyMs) return false;
      this.lastAttempt = time;
      return true;
    }
    const sinceLast = time - this.lastAttempt;
    const passesFloor = quality >= this.policy.minQuality || sinceLast >= this.policy.qualityWaitMs;
    if (!passesFloor) return false;
    if (this.attempts > 0) {
      if (sinceLast < this.policy.attemptIntervalMs) return false;
      const better = quality > this.bestQuality;
      if (!better && sinceLast < this.policy.retryAfterMs) return false;
    }
    this.attempts++;
    this.lastAttempt = time;
    this.bestQuality = Math.max(this.bestQuality, quality);
    return true;
  }
}

/** One recognition attempt of a track. */
export interface Attempt {
  /** Best gallery identity at or above the unknown threshold, or null: no gallery face is close. */
  identityId: number | null;
  /** Cosine similarity of the best gallery match. */
  score: number;
  /** Face quality of the attempted frame, in [0, 1]: the attempt's weight. */
  quality: number;
}

/** The decision of a track so far. */
export interface VoteSummary {
  /** The leader: the identity with the largest weighted support; null when "unknown" leads or nobody voted. */
  identityId: number | null;
  /** The leader's share of the total weight, in [0, 1]; 0 with no votes. */
  share: number;
  /** Mean score of the leader's attempts; NaN with no votes. */
  meanScore: number;
  /** Attempts in the vote. */
  votes: number;
  /** Attempts that matched no gallery identity. */
  unknownVotes: number;
}

/**
 * An attempt weighs its quality, but never less than this: frames of quality 0 still count, and a
 * track whose frames are all of quality 0 votes with equal weights instead of dividing by zero.
 */
const MIN_WEIGHT = 1e-3;

interface Support {
  weight: number;
  scoreSum: number;
  count: number;
}

/**
 * The quality-weighted vote of one track. Holds one tally per identity voted for (at most one per
 * attempt, and the scheduler caps attempts). Ties in weight go to more votes, then the higher mean
 * score, then the lower identity id (unknown last), so the leader is deterministic.
 */
export class TrackVote {
  private readonly tally = new Map<number | null, Support>();
  private totalWeight = 0;
  private votes = 0;

  add(attempt: Attempt): void {
    if (!Number.isFinite(attempt.score)) throw new RangeError(`TrackVote: attempt score must be finite, got ${attempt.score}`);
    if (!(attempt.quality >= 0 && attempt.quality <= 1))
      throw new RangeError(`TrackVote: attempt quality must be in [0, 1], got ${attempt.quality}`);
    const weight = Math.max(MIN_WEIGHT, attempt.quality);
    const support = this.tally.get(attempt.identityId) ?? { weight: 0, scoreSum: 0, count: 0 };
    support.weight += weight;
    support.scoreSum += attempt.score;
    support.count++;
    this.tally.set(attempt.identityId, support);
    this.totalWeight += weight;
    this.votes++;
  }

  summary(): VoteSummary {
    let leaderId: number | null = null;
    let leader: Support | undefined;
    for (const [identityId, support] of this.tally) {
      if (!leader || ranksAbove(identityId, support, leaderId, leader)) {
        leaderId = identityId;
        leader = support;
      }
    }
    const unknownVotes = this.tally.get(null)?.count ?? 0;
    if (!leader) return { identityId: null, share: 0, meanScore: NaN, votes: 0, unknownVotes };
    return {
      identityId: leaderId,
      share: leader.weight / this.totalWeight,
      meanScore: leader.scoreSum / leader.count,
      votes: this.votes,
      unknownVotes,
    };
  }
}

function ranksAbove(id: number | null, support: Support, otherId: number | null, other: Support): boolean {
  // Weights are float sums: equal within rounding counts as a tie.
  if (Math.abs(support.weight - other.weight) > 1e-9 * Math.max(support.weight, other.weight))
    return support.weight > other.weight;
  if (support.count !== other.count) return support.count > other.count;
  const mean = support.scoreSum / support.count;
  const otherMean = other.scoreSum / other.count;
  if (mean !== otherMean) return mean > otherMean;
  if (id === null || otherId === null) return otherId === null && id !== null;
  return id < otherId;
}
