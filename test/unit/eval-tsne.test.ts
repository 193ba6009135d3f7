import { describe, expect, it } from 'vitest';
import { seededRandom, tsne } from '../../lab/eval/tsne.ts';

/** Two tight 10-D clouds far apart: t-SNE must keep every point's nearest neighbour in its own cloud. */
function clouds(perCloud: number, seed: number): { points: number[][]; labels: number[] } {
  const random = seededRandom(seed);
  const points: number[][] = [], labels: number[] = [];
  for (const [label, centre] of [[0, 0], [1, 10]])
    for (let i = 0; i < perCloud; i++) {
      points.push(Array.from({ length: 10 }, () => centre + random() - 0.5));
      labels.push(label);
    }
  return { points, labels };
}

describe('tsne', () => {
  it('keeps separated clusters separated in 2-D', () => {
    const { points, labels } = clouds(15, 7);
    const y = tsne(points, { perplexity: 5, iterations: 400, seed: 1 });
    expect(y).toHaveLength(30);
    for (let i = 0; i < y.length; i++) {
      let nearest = -1, best = Infinity;
      for (let j = 0; j < y.length; j++) {
        if (j === i) continue;
        const d = (y[i][0] - y[j][0]) ** 2 + (y[i][1] - y[j][1]) ** 2;
        if (d < best) [best, nearest] = [d, j];
      }
      expect(labels[nearest]).toBe(labels[i]);
    }
    // The gap between the clusters' centres is larger than either cluster's spread.
    const centre = (l: number) => [0, 1].map((k) => y.filter((_, i) => labels[i] === l).reduce((s, p) => s + p[k], 0) / 15);
    const [a, b] = [centre(0), centre(1)];
    const spread = Math.max(...y.filter((_, i) => labels[i] === 0).map((p) => Math.hypot(p[0] - a[0], p[1] - a[1])));
    expect(Math.hypot(a[0] - b[0], a[1] - b[1])).toBeGreaterThan(spread);
  });

  it('is deterministic for a seed and differs for another', () => {
    const { points } = clouds(6, 3);
    expect(tsne(points, { iterations: 50, seed: 2 })).toEqual(tsne(points, { iterations: 50, seed: 2 }));
    expect(tsne(points, { iterations: 50, seed: 3 })).not.toEqual(tsne(points, { iterations: 50, seed: 2 }));
  });

  it('handles inputs far apart without NaN (large distances, small n)', () => {
    const y = tsne([[0, 0], [1e4, 0], [0, 1e4]], { iterations: 100 });
    expect(y.flat().every(Number.isFinite)).toBe(true);
  });

  it.each([
    [[[1, 2]], /at least 2 points/],
    [[[1, 2], [1]], /point 1 has 1 dimensions, point 0 has 2/],
    [[[1, 2], [NaN, 0]], /point 1 has a non-finite value at 0/],
  ])('refuses bad input %#', (points, message) => {
    expect(() => tsne(points as number[][])).toThrow(message);
  });
});
