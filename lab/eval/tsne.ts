// Exact t-SNE (van der Maaten & Hinton 2008) for the Fig. 7-style plot: O(n²) per iteration, fine
// for a few hundred points. Deterministic for a given seed.

export interface TsneOptions {
  /** Effective number of neighbours; lowered to (n − 1) / 3 for small n. */
  perplexity?: number;
  iterations?: number;
  /** Default: max(50, n / 16). */
  learningRate?: number;
  seed?: number;
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function squaredDistances(points: readonly ArrayLike<number>[]): Float64Array {
  const n = points.length;
  const d = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let k = 0; k < points[i].length; k++) s += (points[i][k] - points[j][k]) ** 2;
      d[i * n + j] = d[j * n + i] = s;
    }
  return d;
}

/** Row i of the conditional P(j|i): the Gaussian width found by bisection so its entropy is log(perplexity). */
function conditionalRow(d: Float64Array, n: number, i: number, perplexity: number, into: Float64Array): void {
  const target = Math.log(perplexity);
  let beta = 1, lo = 0, hi = Infinity;
  // Distances relative to the nearest neighbour keep exp() from underflowing on far-apart inputs.
  let nearest = Infinity;
  for (let j = 0; j < n; j++) if (j !== i) nearest = Math.min(nearest, d[i * n + j]);
  for (let step = 0; step < 100; step++) {
    let sum = 0, weighted = 0;
    for (let j = 0; j < n; j++) {
      const p = j === i ? 0 : Math.exp(-(d[i * n + j] - nearest) * beta);
      into[j] = p;
      sum += p;
      weighted += p * (d[i * n + j] - nearest);
    }
    const entropy = Math.log(sum) + (beta * weighted) / sum;
    for (let j = 0; j < n; j++) into[j] /= sum;
    if (Math.abs(entropy - target) < 1e-5) return;
    if (entropy > target) {
      lo = beta;
      beta = hi === Infinity ? beta * 2 : (beta + hi) / 2;
    } else {
      hi = beta;
      beta = (beta + lo) / 2;
    }
  }
}

/** 2-D coordinates, one per input point (all of the same dimension, finite). */
export function tsne(points: readonly ArrayLike<number>[], options: TsneOptions = {}): [number, number][] {
  const n = points.length;
  if (n < 2) throw new RangeError(`t-SNE needs at least 2 points, got ${n}`);
  const dims = points[0].length;
  for (const [i, p] of points.entries()) {
    if (p.length !== dims) throw new RangeError(`point ${i} has ${p.length} dimensions, point 0 has ${dims}`);
    for (let k = 0; k < dims; k++) if (!Number.isFinite(p[k])) throw new RangeError(`point ${i} has a non-finite value at ${k}`);
  }
  const perplexity = Math.max(1, Math.min(options.perplexity ?? 30, (n - 1) / 3));
  const iterations = options.iterations ?? 1000;
  // scikit-learn's "auto" rate (n / exaggeration / 4, at least 50): a fixed 200 diverges on few points.
  const learningRate = options.learningRate ?? Math.max(50, n / 16);
  const random = seededRandom(options.seed ?? 0);

  const d = squaredDistances(points);
  const P = new Float64Array(n * n);
  const row = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    conditionalRow(d, n, i, perplexity, row);
    P.set(row, i * n);
  }
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) P[i * n + j] = P[j * n + i] = Math.max((P[i * n + j] + P[j * n + i]) / (2 * n), 1e-12);

  // Small Gaussian start (Box–Muller), as the reference implementation.
  const Y = new Float64Array(n * 2);
  for (let i = 0; i < n * 2; i++) Y[i] = 1e-4 * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const velocity = new Float64Array(n * 2);
  const gains = new Float64Array(n * 2).fill(1);
  const num = new Float64Array(n * n);
  const grad = new Float64Array(n * 2);
  for (let it = 0; it < iterations; it++) {
    // Early exaggeration pulls clusters apart before they settle; momentum rises after it.
    const exaggeration = it < 100 ? 4 : 1;
    const momentum = it < 250 ? 0.5 : 0.8;
    let sumQ = 0;
    for (let i = 0; i < n; i++)
      for (let j = i + 1; j < n; j++) {
        const q = 1 / (1 + (Y[2 * i] - Y[2 * j]) ** 2 + (Y[2 * i + 1] - Y[2 * j + 1]) ** 2);
        num[i * n + j] = num[j * n + i] = q;
        sumQ += 2 * q;
      }
    grad.fill(0);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        if (i === j) continue;
        const q = num[i * n + j];
        const m = 4 * (exaggeration * P[i * n + j] - Math.max(q / sumQ, 1e-12)) * q;
        grad[2 * i] += m * (Y[2 * i] - Y[2 * j]);
        grad[2 * i + 1] += m * (Y[2 * i + 1] - Y[2 * j + 1]);
      }
    let meanX = 0, meanY = 0;
    for (let k = 0; k < n * 2; k++) {
      gains[k] = Math.sign(grad[k]) !== Math.sign(velocity[k]) ? gains[k] + 0.2 : Math.max(0.01, gains[k] * 0.8);
      velocity[k] = momentum * velocity[k] - learningRate * gains[k] * grad[k];
      Y[k] += velocity[k];
    }
    for (let i = 0; i < n; i++) {
      meanX += Y[2 * i] / n;
      meanY += Y[2 * i + 1] / n;
    }
    for (let i = 0; i < n; i++) {
      Y[2 * i] -= meanX;
      Y[2 * i + 1] -= meanY;
    }
  }
  return Array.from({ length: n }, (_, i) => [Y[2 * i], Y[2 * i + 1]]);
}
