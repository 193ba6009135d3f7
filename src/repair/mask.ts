// From the segmenter's probabilities to the hole the inpainter fills and the share of the face covered.
import type { Point } from '../types.ts';

/** 1 where the probability is at least `threshold`, then grown by `dilatePx` (chessboard distance). */
export function occlusionMask(probability: Float32Array, size: number, threshold: number, dilatePx: number): Uint8Array {
  if (probability.length !== size * size) throw new RangeError(`${probability.length} probabilities, a ${size}×${size} crop has ${size * size} pixels`);
  if (!(threshold >= 0 && threshold <= 1)) throw new RangeError(`threshold must lie in 0…1, got ${threshold}`);
  if (!(Number.isInteger(dilatePx) && dilatePx >= 0)) throw new RangeError(`dilatePx must be a whole number, 0 or more, got ${dilatePx}`);
  let mask = new Uint8Array(size * size);
  for (let i = 0; i < mask.length; i++) mask[i] = probability[i] >= threshold ? 1 : 0;
  // Grown a little: the occluder's soft edge and its shadow would otherwise stay around the inpainted hole.
  for (let step = 0; step < dilatePx; step++) mask = dilateOnce(mask, size);
  return mask;
}

function dilateOnce(mask: Uint8Array, size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let on = 0;
      for (let dy = -1; dy <= 1 && !on; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= size) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx >= 0 && xx < size && mask[yy * size + xx]) {
            on = 1;
            break;
          }
        }
      }
      out[y * size + x] = on;
    }
  }
  return out;
}

/** Convex hull (counter-clockwise in image coordinates, y down) by Andrew's monotone chain. */
export function convexHull(points: readonly Point[]): Point[] {
  const sorted = [...points].sort((p, q) => p.x - q.x || p.y - q.y);
  if (sorted.length < 3) return sorted;
  const cross = (o: Point, a: Point, b: Point) => (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
  const lower: Point[] = [], upper: Point[] = [];
  for (const p of sorted) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], p) <= 0) lower.pop();
    lower.push(p);
  }
  for (const p of sorted.reverse()) {
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], p) <= 0) upper.pop();
    upper.push(p);
  }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}

/**
 * The face's area in a `size`×`size` crop: the pixels whose centre lies in the convex hull of its
 * landmarks (jaw, brows), as training/occlusion/eval_occlusion.py counts it. The share of this area
 * found covered is the occluded fraction.
 */
export function faceRegion(landmarksInCrop: readonly Point[], size: number): Uint8Array {
  const hull = convexHull(landmarksInCrop);
  const region = new Uint8Array(size * size);
  if (hull.length < 3) return region;
  const n = hull.length;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const px = x + 0.5, py = y + 0.5;
      let inside = true;
      for (let i = 0; i < n && inside; i++) {
        const a = hull[i], b = hull[(i + 1) % n];
        inside = (b.x - a.x) * (py - a.y) - (b.y - a.y) * (px - a.x) >= 0;
      }
      region[y * size + x] = inside ? 1 : 0;
    }
  }
  return region;
}

/** Share (0–1) of the region's pixels the mask covers; 0 for an empty region. */
export function occludedFraction(mask: Uint8Array, region: Uint8Array): number {
  if (mask.length !== region.length) throw new RangeError(`mask has ${mask.length} pixels, region ${region.length}`);
  let area = 0, covered = 0;
  for (let i = 0; i < mask.length; i++) {
    if (!region[i]) continue;
    area++;
    covered += mask[i] ? 1 : 0;
  }
  return area ? covered / area : 0;
}
