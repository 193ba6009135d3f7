// Matching decisions: what one gallery match means, and when a track's vote is worth an alert.
import type { VoteSummary } from './vote.ts';

/** known: score ≥ threshold; unknown: no match or score < unknownThreshold; undecided: in between. */
export type MatchDecision = 'known' | 'unknown' | 'undecided';

export interface MatchThresholds {
  /** Cosine similarity at or above which the best match is a known identity (config match.threshold). */
  threshold: number;
  /** Cosine similarity below which the face is unknown (config match.unknownThreshold). */
  unknownThreshold: number;
}

/** The decision for a similarity score, by the two thresholds. */
export function decideScore(score: number, thresholds: MatchThresholds): MatchDecision {
  checkThresholds(thresholds);
  // A NaN would fall through both comparisons to "undecided" and hide a broken embedding.
  if (!Number.isFinite(score)) throw new RangeError(`match score must be a finite number, got ${score}`);
  if (score >= thresholds.threshold) return 'known';
  if (score < thresholds.unknownThreshold) return 'unknown';
  return 'undecided';
}

export interface AlertPolicy extends MatchThresholds {
  /** Alert faces that match nobody (config match.alertUnknown). */
  alertUnknown: boolean;
  /** Attempts a track gets (config track.maxAttempts). */
  maxAttempts: number;
}

export type AlertVerdict =
  | { kind: 'known'; identityId: number; score: number; share: number; votes: number }
  | { kind: 'unknown'; score: number; votes: number };

/** Attempts, all unknown, before a track is alerted as unknown: one miss may be a bad frame. */
const UNKNOWN_VOTES_NEEDED = 2;

/**
 * What a track's vote says to alert, ignoring what it alerted before:
 * - known, when the leader is a gallery identity holding more than half the weight and the mean
 *   score of its attempts reaches the match threshold;
 * - unknown, when unknown faces are alerted and the track has had at least 2 attempts (or all of its
 *   maxAttempts, if fewer), every one of them unknown;
 * - null otherwise (not sure yet, or nothing to say).
 */
export function alertVerdict(vote: VoteSummary, policy: AlertPolicy): AlertVerdict | null {
  if (vote.votes === 0) return null;
  if (vote.identityId !== null) {
    if (vote.share > 0.5 && decideScore(vote.meanScore, policy) === 'known')
      return { kind: 'known', identityId: vote.identityId, score: vote.meanScore, share: vote.share, votes: vote.votes };
    return null;
  }
  const needed = Math.min(UNKNOWN_VOTES_NEEDED, policy.maxAttempts);
  if (policy.alertUnknown && vote.votes >= needed && vote.unknownVotes === vote.votes)
    return { kind: 'unknown', score: vote.meanScore, votes: vote.votes };
  return null;
}

export interface TrackAlertsState {
  identities: number[];
  unknown: boolean;
}

/**
 * Per track: raises each alert once. A track alerts at most once per known identity (a second one
 * only if the tracker swapped people and the vote moved to them) and at most once as unknown.
 * Holds at most one entry per attempt of the track.
 */
export class TrackAlerts {
  private readonly alertedIdentities = new Set<number>();
  private alertedUnknown = false;

  /** What has been alerted, as plain data (the cluster keeps it in Redis). */
  state(): TrackAlertsState {
    return { identities: [...this.alertedIdentities], unknown: this.alertedUnknown };
  }

  static from(state: TrackAlertsState): TrackAlerts {
    const alerts = new TrackAlerts();
    for (const id of state.identities) alerts.alertedIdentities.add(id);
    alerts.alertedUnknown = state.unknown;
    return alerts;
  }

  /** The alert to send now for this vote, or null; an alert returned here is never returned again. */
  next(vote: VoteSummary, policy: AlertPolicy): AlertVerdict | null {
    const verdict = alertVerdict(vote, policy);
    if (!verdict) return null;
    if (verdict.kind === 'known') {
      if (this.alertedIdentities.has(verdict.identityId)) return null;
      this.alertedIdentities.add(verdict.identityId);
      return verdict;
    }
    if (this.alertedUnknown) return null;
    this.alertedUnknown = true;
    return verdict;
  }
}

function checkThresholds(t: MatchThresholds): void {
  if (!(Number.isFinite(t.threshold) && Number.isFinite(t.unknownThreshold) && t.unknownThreshold <= t.threshold))
    throw new RangeError(
      `match thresholds must be finite with unknownThreshold ≤ threshold, got threshold=${t.threshold} unknownThreshold=${t.unknownThreshold}`,
    );
}
