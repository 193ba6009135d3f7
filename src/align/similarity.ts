// 2-D similarity transforms (rotation, uniform scale, translation): pure functions.
import type { Point } from '../types.ts';

/**
 * x' = a·x − b·y + tx,  y' = b·x + a·y + ty  (a = s·cos θ, b = s·sin θ).
 */
export interface Similarity {
  a: number;
  b: number;
  tx: number;
  ty: number;
}

export function applySimilarity(t: Similarity, p: Point): Point {
  return { x: t.a * p.x - t.b * p.y + t.tx, y: t.b * p.x + t.a * p.y + t.ty };
}

export function invertSimilarity(t: Similarity): Similarity {
  const d = t.a * t.a + t.b * t.b;
  if (d === 0) throw new Error('similarity transform with zero scale has no inverse');
  const a = t.a / d;
  const b = -t.b / d;
  return { a, b, tx: -(a * t.tx - b * t.ty), ty: -(b * t.tx + a * t.ty) };
}

export function composeSimilarity(outer: Similarity, inner: Similarity): Similarity {
  // outer(inner(p))
  return {
    a: outer.a * inner.a - outer.b * inner.b,
    b: outer.b * inner.a + outer.a * inner.b,
    tx: outer.a * inner.tx - outer.b * inner.ty + outer.tx,
    ty: outer.b * inner.tx + outer.a * inner.ty + outer.ty,
  };
}

export function scaleOf(t: Similarity): number {
  return Math.hypot(t.a, t.b);
}

/**
 * The similarity that maps `from` onto `to` with the least squared error (Umeyama's closed form,
 * without reflection). Needs at least two distinct points.
 */
export function estimateSimilarity(from: readonly Point[], to: readonly Point[]): Similarity {
  const n = from.length;
  if (n !== to.length) throw new Error(`point counts differ: ${n} and ${to.length}`);
  if (n < 2) throw new Error('a similarity needs at least 2 point pairs');
  let fx = 0, fy = 0, gx = 0, gy = 0;
  for (let i = 0; i < n; i++) {
    fx += from[i].x; fy += from[i].y; gx += to[i].x; gy += to[i].y;
  }
  fx /= n; fy /= n; gx /= n; gy /= n;
  // With centred points u (from) and v (to): a = Σ(u·v) / Σ|u|², b = Σ(u×v) / Σ|u|².
  let dot = 0, cross = 0, norm = 0;
  for (let i = 0; i < n; i++) {
    const ux = from[i].x - fx, uy = from[i].y - fy;
    const vx = to[i].x - gx, vy = to[i].y - gy;
    dot += ux * vx + uy * vy;
    cross += ux * vy - uy * vx;
    norm += ux * ux + uy * uy;
  }
  if (norm === 0) throw new Error('all source points coincide: no similarity is defined');
  const a = dot / norm;
  const b = cross / norm;
  return { a, b, tx: gx - (a * fx - b * fy), ty: gy - (b * fx + a * fy) };
}
