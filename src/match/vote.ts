// Recognition per track: the quality-weighted vote over the attempts a track got.

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

/** A vote as plain data, for a vote kept outside the process (the cluster keeps it in Redis). */
export interface TrackVoteState {
  /** Per identity voted for (null: unknown): its summed weight, summed score and attempts. */
  tally: [identityId: number | null, weight: number, scoreSum: number, count: number][];
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

  state(): TrackVoteState {
    return { tally: [...this.tally].map(([id, s]) => [id, s.weight, s.scoreSum, s.count]) };
  }

  /** The vote a `state()` was taken of. */
  static from(state: TrackVoteState): TrackVote {
    const vote = new TrackVote();
    for (const [id, weight, scoreSum, count] of state.tally) {
      if (!(weight > 0 && Number.isFinite(scoreSum) && Number.isInteger(count) && count > 0)) throw new RangeError(`TrackVote: bad tally entry for ${id}`);
      vote.tally.set(id, { weight, scoreSum, count });
      vote.totalWeight += weight;
      vote.votes += count;
    }
    return vote;
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
