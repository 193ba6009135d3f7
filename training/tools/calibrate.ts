// How match thresholds are chosen from scored pairs (thresholds.ts), as pure functions.
//
// A surveillance alert that names the wrong person costs more than one that waits for a better
// frame, so match.threshold is the higher of (a) the most accurate single threshold and (b) the
// lowest threshold that no different-person pair reaches, rounded up to 0.01. Between
// match.unknownThreshold and match.threshold a face is undecided (the track keeps trying);
// unknownThreshold is the lower of the most accurate threshold and 0.08 below match.threshold.
// LFW's pairs are few (about 1,100 different-person pairs): what they propose is a floor. The default
// also has to hold on the fairness table's hundreds of thousands of pairs (training/tools/fairness.ts);
// docs/recognizers.md says where each default came from.
import { accuracyAt, bestThreshold } from '../../lab/eval/verification.ts';

export interface ScoredPair {
  score: number;
  same: boolean;
}

export interface Calibration {
  /** The most accurate single threshold and its accuracy. */
  accuracyOptimal: { threshold: number; accuracy: number };
  /** Highest different-person score, and the same-person share at or above it. */
  highestDifferent: number;
  /** Threshold with at most 1 % / 0.1 % of different-person pairs at or above it. */
  far1: number;
  far01: number;
  proposed: { threshold: number; unknownThreshold: number };
  atProposed: ReturnType<typeof describeAt>;
}

const UNDECIDED_BAND = 0.08;

/** The lowest threshold with at most `share` of the different-person pairs at or above it. */
export function thresholdAtFalseAcceptRate(pairs: readonly ScoredPair[], share: number): number {
  const different = pairs.filter((p) => !p.same).map((p) => p.score).sort((a, b) => b - a);
  if (!different.length) throw new RangeError('no different-person pairs');
  const allowed = Math.floor(share * different.length);
  // Just above the (allowed+1)-th highest different-person score.
  return allowed >= different.length ? -Infinity : different[allowed] + 1e-6;
}

export function calibrate(pairs: readonly ScoredPair[]): Calibration {
  const best = bestThreshold(pairs);
  const highestDifferent = Math.max(...pairs.filter((p) => !p.same).map((p) => p.score));
  const noneReach = Math.ceil((highestDifferent + 1e-9) * 100) / 100;
  const threshold = Math.max(Math.round(best.threshold * 100) / 100, noneReach);
  const unknownThreshold = Math.min(Math.round(best.threshold * 100) / 100, Math.round((threshold - UNDECIDED_BAND) * 100) / 100);
  return {
    accuracyOptimal: { threshold: best.threshold, accuracy: best.accuracy },
    highestDifferent,
    far1: thresholdAtFalseAcceptRate(pairs, 0.01),
    far01: thresholdAtFalseAcceptRate(pairs, 0.001),
    proposed: { threshold, unknownThreshold },
    atProposed: describeAt(pairs, threshold, unknownThreshold),
  };
}

/** What a pair of thresholds does to scored pairs: named right, named wrongly, undecided, unknown. */
export function describeAt(pairs: readonly ScoredPair[], threshold: number, unknownThreshold: number) {
  const same = pairs.filter((p) => p.same), different = pairs.filter((p) => !p.same);
  const share = (xs: readonly ScoredPair[], f: (s: number) => boolean) => (xs.length ? xs.filter((p) => f(p.score)).length / xs.length : 0);
  return {
    accuracy: accuracyAt(pairs, threshold),
    samePairs: same.length,
    differentPairs: different.length,
    sameAccepted: share(same, (s) => s >= threshold),
    sameUndecided: share(same, (s) => s >= unknownThreshold && s < threshold),
    differentAccepted: share(different, (s) => s >= threshold),
    differentUndecided: share(different, (s) => s >= unknownThreshold && s < threshold),
    highestDifferent: different.length ? Math.max(...different.map((p) => p.score)) : null,
  };
}
