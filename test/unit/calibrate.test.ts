// Match thresholds from scored pairs (training/tools/calibrate.ts): the most accurate threshold, the
// lowest one no different-person pair reaches, and the pair the service uses.
import { describe, expect, it } from 'vitest';
import { parsePairs } from '../../lab/eval/pairs.ts';
import { calibrate, describeAt, thresholdAtFalseAcceptRate } from '../../training/tools/calibrate.ts';

// A View-1 style pairs file of four people; each person's photos embed at a known cosine.
const PAIRS = ['4', 'Ann\t1\t2', 'Bob\t1\t2', 'Cid\t1\t2', 'Dee\t1\t2', 'Ann\t1\tBob\t1', 'Bob\t2\tCid\t1', 'Cid\t2\tDee\t1', 'Dee\t2\tAnn\t2'].join('\n');
const SCORES: Record<string, number> = {
  'Ann/1-Ann/2': 0.8, 'Bob/1-Bob/2': 0.6, 'Cid/1-Cid/2': 0.45, 'Dee/1-Dee/2': 0.3,
  'Ann/1-Bob/1': 0.1, 'Bob/2-Cid/1': 0.35, 'Cid/2-Dee/1': -0.05, 'Dee/2-Ann/2': 0.2,
};
const scored = parsePairs(PAIRS).pairs.map((p) => ({ same: p.same, score: SCORES[`${p.a.name}/${p.a.number}-${p.b.name}/${p.b.number}`] }));

describe('calibrate', () => {
  it('proposes the higher of the most accurate threshold and the first one no different pair reaches', () => {
    const c = calibrate(scored);
    // Sorted: −0.05 0.1 0.2 0.3(s) 0.35 0.45(s) 0.6(s) 0.8(s): 7 of 8 right between 0.2 and 0.3 (the
    // lowest of the two best places); no different pair reaches 0.36.
    expect(c.accuracyOptimal.threshold).toBeCloseTo(0.25);
    expect(c.accuracyOptimal.accuracy).toBe(7 / 8);
    expect(c.highestDifferent).toBe(0.35);
    expect(c.proposed.threshold).toBe(0.36);
    expect(c.proposed.unknownThreshold).toBe(0.25);
    expect(c.atProposed.differentAccepted).toBe(0);
    expect(c.atProposed.sameAccepted).toBe(3 / 4);
  });

  it('goes above the most accurate threshold when a different-person pair would reach it', () => {
    const c = calibrate([...scored, { same: false, score: 0.5 }, { same: false, score: 0.01 }]);
    expect(c.proposed.threshold).toBe(0.51);
    expect(describeAt(scored, c.proposed.threshold, c.proposed.unknownThreshold).differentAccepted).toBe(0);
  });

  it('finds the threshold at a false-accept rate', () => {
    expect(thresholdAtFalseAcceptRate(scored, 0)).toBeCloseTo(0.35 + 1e-6);
    // One of four different pairs may pass: just above the second highest.
    expect(thresholdAtFalseAcceptRate(scored, 0.25)).toBeCloseTo(0.2 + 1e-6);
    expect(() => thresholdAtFalseAcceptRate(scored.filter((p) => p.same), 0.01)).toThrow(/no different-person pairs/);
  });
});
