// The pure part of the fairness table (training/tools/fairness.ts): pair statistics from embeddings
// and labels, the verdict, and the files it reads.
import { describe, expect, it } from 'vitest';
import {
  normalise,
  pairStats,
  parseGroups,
  parseThresholds,
  quantile,
  readCelebaIdentities,
  topPairs,
  verdicts,
  type LabelledFace,
} from '../../training/tools/fairness.ts';

/** A unit vector at `deg` degrees in the plane: the cosine of two is the cosine of their angle. */
const at = (deg: number) => new Float32Array([Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180)]);
const face = (person: string, deg: number, scope?: string): LabelledFace => ({ person, source: `${person}@${deg}`, embedding: at(deg), scope });

describe('pairStats', () => {
  // Three people, two faces each: a at 0° and 10°, b at 30° and 40°, c at 90° and 100°.
  const faces = [face('a', 0), face('a', 10), face('b', 30), face('b', 40), face('c', 90), face('c', 100)];
  const cos = (deg: number) => Math.cos((deg * Math.PI) / 180);

  it('splits every pair into same-person and different-person', () => {
    const s = pairStats(faces, [0.9]);
    expect(s.identities).toBe(3);
    expect(s.faces).toBe(6);
    expect(s.same.pairs).toBe(3);
    expect(s.different.pairs).toBe(12);
    expect(s.same.mean).toBeCloseTo(cos(10), 6);
    expect(s.same.min).toBeCloseTo(cos(10), 6);
  });

  it('reports the highest different-person cosine and the pairs at or above each threshold', () => {
    // Different-person angles: a–b 20, 30, 30, 40; a–c 80, 90, 90, 100; b–c 50, 60, 60, 70.
    const justBelow = (deg: number) => cos(deg) - 1e-6; // float32 embeddings
    const s = pairStats(faces, [justBelow(20), justBelow(30), 0.99]);
    expect(s.different.max).toBeCloseTo(cos(20), 6);
    expect(s.different.atOrAbove[String(justBelow(20))]).toBe(1);
    expect(s.different.atOrAbove[String(justBelow(30))]).toBe(3);
    expect(s.different.atOrAbove['0.99']).toBe(0);
    // At the threshold counts: a pair of identical embeddings reaches 1.
    expect(pairStats([face('a', 0), face('b', 0)], [1]).different.atOrAbove['1']).toBe(1);
    const angles = [20, 30, 30, 40, 80, 90, 90, 100, 50, 60, 60, 70];
    expect(s.different.mean).toBeCloseTo(angles.reduce((t, a) => t + cos(a), 0) / angles.length, 6);
  });

  it('lists the top different-person pairs highest first, with who they are', () => {
    const s = pairStats(faces, [], 2);
    expect(s.topDifferent).toHaveLength(2);
    expect(s.topDifferent[0].cosine).toBeCloseTo(cos(20), 6);
    expect(s.topDifferent[0].a).toEqual({ person: 'a', source: 'a@10' });
    expect(s.topDifferent[0].b).toEqual({ person: 'b', source: 'b@30' });
    expect(s.topDifferent[1].cosine).toBeCloseTo(cos(30), 6);
    expect(s.topDifferent.every((p) => p.a.person !== p.b.person)).toBe(true);
  });

  it('pairs faces of a scope only with each other (the faces of one group photo)', () => {
    // Two photos: x and y are the same angle but in different photos, so never compared.
    const s = pairStats([face('x', 0, 'p1'), face('y', 0, 'p2'), face('z', 60, 'p1')], [0.99]);
    expect(s.different.pairs).toBe(1);
    expect(s.different.max).toBeCloseTo(0.5, 6);
    expect(s.different.atOrAbove['0.99']).toBe(0);
    expect(s.same.pairs).toBe(0);
    expect(s.same.mean).toBeNull();
  });

  it('has no figures where there are no pairs', () => {
    const s = pairStats([face('a', 0)], [0.5]);
    expect(s.different).toMatchObject({ pairs: 0, mean: null, p99: null, max: null });
    expect(s.topDifferent).toEqual([]);
  });

  it('refuses embeddings of different lengths', () => {
    expect(() => pairStats([face('a', 0), { person: 'b', source: 'b', embedding: new Float32Array(3) }], [])).toThrow(/dimensions/);
  });
});

describe('quantile', () => {
  it('interpolates between closest ranks as numpy does', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    const hundred = Array.from({ length: 101 }, (_, i) => i);
    expect(quantile(hundred, 0.05)).toBeCloseTo(5, 9);
    expect(quantile(hundred, 0.999)).toBeCloseTo(99.9, 9);
    expect(quantile([7], 0.99)).toBe(7);
    expect(quantile([], 0.5)).toBeNull();
  });
});

describe('normalise', () => {
  it('makes unit vectors', () => {
    expect(Array.from(normalise(new Float32Array([3, 4])))).toEqual([Math.fround(0.6), Math.fround(0.8)]);
  });
});

describe('verdicts', () => {
  const rows = [
    { row: 'African', stats: { faceapi: pairStats([face('a', 0), face('b', 10)], [0.9]) } },
    { row: 'Asian', stats: { faceapi: pairStats([face('c', 0), face('d', 60)], [0.9]) } },
  ] as never;

  it('a recognizer is default-eligible at a threshold only when no row reaches it', () => {
    const [v] = verdicts(rows, new Map([['faceapi', [0.9]]]), { faceapi: 0.9 });
    expect(v).toMatchObject({ recognizer: 'faceapi', threshold: 0.9, eligible: false, reached: [{ row: 'African', pairs: 1 }] });
  });

  it('marks thresholds other than the service default as provisional', () => {
    const withTwo = [
      { row: 'African', stats: { arcface: pairStats([face('a', 0), face('b', 80)], [0.3, 0.35]) } },
    ] as never;
    const vs = verdicts(withTwo, new Map([['arcface', [0.3, 0.33, 0.35]]]), { arcface: 0.33, faceapi: 0.92 });
    expect(vs.map((v) => [v.threshold, v.provisional, v.eligible])).toEqual([
      [0.3, true, true],
      [0.33, false, true],
      [0.35, true, true],
    ]);
    expect(verdicts(rows, new Map([['faceapi', [0.92]]]), {})[0].provisional).toBe(true);
  });

  it('gathers the top pairs of all rows', () => {
    const top = topPairs(rows, 'faceapi' as never);
    expect(top.map((p) => p.row)).toEqual(['African', 'Asian']);
  });
});

describe('the inputs', () => {
  it('thresholds: recognizer=cosine, several per recognizer', () => {
    expect([...parseThresholds(['faceapi=0.92', 'arcface=0.30', 'arcface=0.35'])]).toEqual([
      ['faceapi', [0.92]],
      ['arcface', [0.3, 0.35]],
    ]);
    expect(() => parseThresholds(['arcface'])).toThrow(/recognizer=cosine/);
    expect(() => parseThresholds(['arcface=1.5'])).toThrow(/recognizer=cosine/);
  });

  it('groups file: comments and the header skipped, a repeated identity refused', () => {
    const groups = parseGroups('# how it was made\nidentity,group\n4930,Caucasian\n5061,Asian\n5100,unsure\n');
    expect([...groups]).toEqual([
      ['4930', 'Caucasian'],
      ['5061', 'Asian'],
      ['5100', 'unsure'],
    ]);
    expect(() => parseGroups('1,Asian\n1,African\n')).toThrow(/twice/);
    expect(() => parseGroups('1\n')).toThrow(/identity,group/);
  });

  it("CelebA's identity.txt: files by identity, sorted, identities in numeric order", () => {
    const ids = readCelebaIdentities('b.jpg 10\na.jpg 9\nc.jpg 10\n\n');
    expect([...ids]).toEqual([
      ['9', ['a.jpg']],
      ['10', ['b.jpg', 'c.jpg']],
    ]);
  });
});
