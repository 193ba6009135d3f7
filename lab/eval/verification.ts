// Face verification on pairs, LFW's protocol: a threshold on the pair's similarity chosen by
// accuracy on 9 folds and applied to the 10th, mean ± std over the 10; and the ROC's AUC.

/** A scored pair: a higher score means "more likely the same person" (pass −distance for distances). */
export interface ScoredPair {
  score: number;
  same: boolean;
  /** 0-based fold. */
  fold: number;
}

export interface FoldResult {
  /** Chosen on the other folds: "same" when score ≥ threshold. */
  threshold: number;
  /** On this fold, 0..1. */
  accuracy: number;
}

export interface CrossValidation {
  mean: number;
  /** Population standard deviation over the folds (numpy's default, as the common LFW scripts). */
  std: number;
  folds: FoldResult[];
}

/**
 * Folds for a pairs list that has none (View 1): the i-th matched pair goes to fold i mod k and
 * the j-th mismatched pair to fold j mod k, so that every fold keeps the classes' balance and the
 * split depends on the file's order alone.
 */
export function interleavedFolds(same: readonly boolean[], k = 10): number[] {
  if (!(Number.isInteger(k) && k >= 2)) throw new RangeError(`cross-validation needs at least 2 folds, got ${k}`);
  let matched = 0, mismatched = 0;
  return same.map((s) => (s ? matched++ : mismatched++) % k);
}

/** Share of pairs classified right when "same" means score ≥ threshold. */
export function accuracyAt(pairs: readonly Pick<ScoredPair, 'score' | 'same'>[], threshold: number): number {
  if (pairs.length === 0) throw new RangeError('accuracy of an empty set of pairs is undefined');
  let right = 0;
  for (const p of pairs) if (p.score >= threshold === p.same) right++;
  return right / pairs.length;
}

/**
 * The threshold of highest accuracy on `pairs`: candidates are −∞ and the midpoints between
 * consecutive distinct scores (and +∞); ties go to the lowest candidate.
 */
export function bestThreshold(pairs: readonly Pick<ScoredPair, 'score' | 'same'>[]): FoldResult {
  if (pairs.length === 0) throw new RangeError('cannot choose a threshold on no pairs');
  for (const p of pairs) if (!Number.isFinite(p.score)) throw new RangeError(`scores must be finite numbers, got ${p.score}`);
  const sorted = [...pairs].sort((x, y) => x.score - y.score);
  // At −∞ every pair is called "same": the matched ones are right.
  let right = sorted.filter((p) => p.same).length;
  let best: FoldResult = { threshold: -Infinity, accuracy: right / sorted.length };
  for (let i = 0; i < sorted.length; ) {
    // Move the threshold past every pair with this score: they become "different".
    const score = sorted[i].score;
    for (; i < sorted.length && sorted[i].score === score; i++) right += sorted[i].same ? -1 : 1;
    const threshold = i < sorted.length ? (score + sorted[i].score) / 2 : Infinity;
    if (right / sorted.length > best.accuracy) best = { threshold, accuracy: right / sorted.length };
  }
  return best;
}

/** k-fold cross-validated accuracy: each fold is judged with the threshold best on all the others. */
export function crossValidatedAccuracy(pairs: readonly ScoredPair[]): CrossValidation {
  const foldIds = [...new Set(pairs.map((p) => p.fold))].sort((a, b) => a - b);
  if (foldIds.length < 2) throw new RangeError(`cross-validation needs pairs in at least 2 folds, got ${foldIds.length}`);
  const folds = foldIds.map((fold) => {
    const { threshold } = bestThreshold(pairs.filter((p) => p.fold !== fold));
    return { threshold, accuracy: accuracyAt(pairs.filter((p) => p.fold === fold), threshold) };
  });
  const mean = folds.reduce((s, f) => s + f.accuracy, 0) / folds.length;
  const std = Math.sqrt(folds.reduce((s, f) => s + (f.accuracy - mean) ** 2, 0) / folds.length);
  return { mean, std, folds };
}

/**
 * Area under the ROC curve: the probability that a matched pair outscores a mismatched one, ties
 * counting half (Mann–Whitney U from average ranks).
 */
export function rocAuc(pairs: readonly Pick<ScoredPair, 'score' | 'same'>[]): number {
  const positives = pairs.filter((p) => p.same).length;
  const negatives = pairs.length - positives;
  if (positives === 0 || negatives === 0) throw new RangeError(`AUC needs both matched and mismatched pairs, got ${positives} and ${negatives}`);
  const sorted = [...pairs].sort((x, y) => x.score - y.score);
  let positiveRankSum = 0;
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j < sorted.length && sorted[j].score === sorted[i].score) j++;
    const averageRank = (i + 1 + j) / 2; // ranks i+1 … j share their mean
    for (let k = i; k < j; k++) if (sorted[k].same) positiveRankSum += averageRank;
    i = j;
  }
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}
