import { describe, expect, it } from 'vitest';
import { accuracyAt, bestThreshold, crossValidatedAccuracy, interleavedFolds, rocAuc, type ScoredPair } from '../../lab/eval/verification.ts';

const pair = (score: number, same: boolean, fold = 0): ScoredPair => ({ score, same, fold });

describe('interleavedFolds', () => {
  it('deals each class round-robin over the folds', () => {
    const same = [true, true, true, false, false, false];
    expect(interleavedFolds(same, 2)).toEqual([0, 1, 0, 0, 1, 0]);
  });

  it('gives each of 10 folds 50 + 50 of View 1 test set', () => {
    const same = [...Array(500).fill(true), ...Array(500).fill(false)];
    const folds = interleavedFolds(same);
    for (let f = 0; f < 10; f++) {
      expect(same.filter((s, i) => s && folds[i] === f)).toHaveLength(50);
      expect(same.filter((s, i) => !s && folds[i] === f)).toHaveLength(50);
    }
  });
});

describe('bestThreshold', () => {
  it('separates separable scores at the midpoint of the gap', () => {
    const result = bestThreshold([pair(0.1, false), pair(0.3, false), pair(0.7, true), pair(0.9, true)]);
    expect(result).toEqual({ threshold: 0.5, accuracy: 1 });
  });

  it('finds the best of overlapping scores', () => {
    // At 0.45: 0.2(F) 0.4(F) right, 0.5(T) 0.6(F→wrong) 0.8(T) → 4/5.
    const pairs = [pair(0.2, false), pair(0.4, false), pair(0.5, true), pair(0.6, false), pair(0.8, true)];
    const result = bestThreshold(pairs);
    expect(result.accuracy).toBeCloseTo(0.8);
    expect(accuracyAt(pairs, result.threshold)).toBeCloseTo(0.8);
  });

  it('treats tied scores together', () => {
    // A threshold cannot split the two 0.5s; the best is to call all "same" (or all "different"): 2/4, or 3/4 above 0.5.
    expect(bestThreshold([pair(0.5, true), pair(0.5, false), pair(0.9, true), pair(0.1, false)]).accuracy).toBeCloseTo(0.75);
  });

  it('refuses non-finite scores', () => {
    expect(() => bestThreshold([pair(NaN, true)])).toThrow(/finite/);
  });
});

describe('crossValidatedAccuracy', () => {
  it('is 100 % ± 0 on perfectly separable scores', () => {
    const pairs: ScoredPair[] = [];
    for (let i = 0; i < 100; i++) pairs.push(pair(0.6 + i / 1000, true, i % 10), pair(0.4 - i / 1000, false, i % 10));
    const result = crossValidatedAccuracy(pairs);
    expect(result.mean).toBe(1);
    expect(result.std).toBe(0);
    expect(result.folds).toHaveLength(10);
  });

  it('applies the threshold of the other folds to each fold', () => {
    // Folds 0 and 1 agree on a threshold of 0.5; fold 2's own best would be 0.75, but it is
    // judged at the others' threshold: its 0.6-scored mismatched pair counts as wrong.
    const pairs = [
      pair(0.2, false, 0), pair(0.8, true, 0),
      pair(0.3, false, 1), pair(0.7, true, 1),
      pair(0.6, false, 2), pair(0.9, true, 2),
    ];
    const result = crossValidatedAccuracy(pairs);
    expect(result.folds.map((f) => f.accuracy)).toEqual([1, 1, 0.5]);
    expect(result.mean).toBeCloseTo(2.5 / 3);
    expect(result.std).toBeCloseTo(Math.sqrt((2 * (1 / 6) ** 2 + (1 / 3) ** 2) / 3));
  });

  it('needs at least two folds', () => {
    expect(() => crossValidatedAccuracy([pair(1, true), pair(0, false)])).toThrow(/at least 2 folds/);
  });
});

describe('rocAuc', () => {
  it('is 1 when separable, 0 when inverted', () => {
    expect(rocAuc([pair(0.9, true), pair(0.8, true), pair(0.1, false)])).toBe(1);
    expect(rocAuc([pair(0.1, true), pair(0.9, false)])).toBe(0);
  });

  it('counts the share of correctly ordered matched/mismatched couples, ties as half', () => {
    // Positives 0.8, 0.4; negatives 0.6, 0.2: ordered couples 3 of 4.
    expect(rocAuc([pair(0.8, true), pair(0.4, true), pair(0.6, false), pair(0.2, false)])).toBe(0.75);
    // All tied: 0.5.
    expect(rocAuc([pair(0.5, true), pair(0.5, false), pair(0.5, true)])).toBe(0.5);
  });

  it('needs both classes', () => {
    expect(() => rocAuc([pair(1, true)])).toThrow(/both matched and mismatched/);
  });
});
