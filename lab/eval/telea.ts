// The classical inpainting baseline: Telea's fast-marching method (A. Telea, "An Image Inpainting
// Technique Based on the Fast Marching Method", J. Graphics Tools 9(1), 2004). The hole is filled
// from its border inwards in order of distance T; each pixel is a weighted mean of the first-order
// extrapolations I(q) + ∇I(q)·(p − q) from the known pixels q within `radius`, weighted by
// direction (along ∇T), distance and level-set closeness. ∇I of a filled pixel is the same
// weighted mean of its neighbours' ∇I rather than a difference of filled values: this keeps a
// linear ramp exact and stops extrapolation errors from compounding at strong edges.
import type { RgbImage } from '../../src/types.ts';

const KNOWN = 0, BAND = 1, INSIDE = 2;
/** Distance given to hole pixels not reached yet. */
const FAR = 1e6;

/** A binary min-heap of pixel indices keyed by T. */
class MinHeap {
  private readonly keys: number[] = [];
  private readonly items: number[] = [];
  get size(): number {
    return this.items.length;
  }
  push(item: number, key: number): void {
    this.items.push(item);
    this.keys.push(key);
    let i = this.items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.keys[parent] <= this.keys[i]) break;
      this.swap(i, parent);
      i = parent;
    }
  }
  pop(): number {
    const top = this.items[0];
    const lastItem = this.items.pop()!, lastKey = this.keys.pop()!;
    if (this.items.length > 0) {
      this.items[0] = lastItem;
      this.keys[0] = lastKey;
      for (let i = 0; ; ) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < this.items.length && this.keys[l] < this.keys[m]) m = l;
        if (r < this.items.length && this.keys[r] < this.keys[m]) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
  private swap(i: number, j: number): void {
    [this.items[i], this.items[j]] = [this.items[j], this.items[i]];
    [this.keys[i], this.keys[j]] = [this.keys[j], this.keys[i]];
  }
}

/**
 * Fills the pixels where `mask` is 1 (one byte per pixel, rows top to bottom) from the others;
 * pixels outside the mask come back unchanged. `radius` is the neighbourhood ε of the paper, pixels.
 */
export function teleaInpaint(image: RgbImage, mask: Uint8Array, radius = 5): RgbImage {
  const { width, height } = image;
  if (image.data.length !== width * height * 3) throw new RangeError(`RGB data of a ${width}×${height} image must have ${width * height * 3} bytes, got ${image.data.length}`);
  if (mask.length !== width * height) throw new RangeError(`mask has ${mask.length} values, a ${width}×${height} image has ${width * height}`);
  if (!(radius >= 1)) throw new RangeError(`inpainting radius must be at least 1 pixel, got ${radius}`);

  const flag = new Uint8Array(width * height);
  const t = new Float64Array(width * height);
  // Work in floating point so that filled pixels feed later ones without rounding drift.
  const value = Float64Array.from(image.data);
  let holes = 0;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i]) {
      flag[i] = INSIDE;
      t[i] = FAR;
      holes++;
    }
  }
  if (holes === width * height) throw new RangeError('the mask covers the whole image: there is nothing to inpaint from');

  // The narrow band starts as the known pixels that touch the hole (4-neighbourhood), at T = 0.
  const heap = new MinHeap();
  const neighbours = (i: number): number[] => {
    const x = i % width, y = (i - x) / width;
    const out: number[] = [];
    if (x > 0) out.push(i - 1);
    if (x < width - 1) out.push(i + 1);
    if (y > 0) out.push(i - width);
    if (y < height - 1) out.push(i + width);
    return out;
  };
  for (let i = 0; i < flag.length; i++) {
    if (flag[i] === KNOWN && neighbours(i).some((n) => flag[n] === INSIDE)) {
      flag[i] = BAND;
      heap.push(i, 0);
    }
  }

  const reached = (x: number, y: number) => x >= 0 && y >= 0 && x < width && y < height && flag[y * width + x] !== INSIDE;
  // The eikonal |∇T| = 1 solved from one vertical and one horizontal neighbour (Sethian's upwind scheme).
  const solve = (x1: number, y1: number, x2: number, y2: number): number => {
    const known1 = reached(x1, y1), known2 = reached(x2, y2);
    const t1 = known1 ? t[y1 * width + x1] : FAR, t2 = known2 ? t[y2 * width + x2] : FAR;
    if (known1 && known2) {
      const d = 2 - (t1 - t2) ** 2;
      if (d > 0) {
        const s = (t1 + t2 + Math.sqrt(d)) / 2;
        if (s >= t1 && s >= t2) return s;
      }
      return 1 + Math.min(t1, t2);
    }
    if (known1) return 1 + t1;
    if (known2) return 1 + t2;
    return FAR;
  };
  // ∇T by one-sided or central differences over the pixels T is known at (not INSIDE).
  const distanceGradient = (x: number, y: number): [number, number] => {
    const i = y * width + x;
    const axis = (prevOk: boolean, nextOk: boolean, prev: number, next: number): number =>
      prevOk && nextOk ? (t[next] - t[prev]) / 2 : nextOk ? t[next] - t[i] : prevOk ? t[i] - t[prev] : 0;
    return [
      axis(reached(x - 1, y), reached(x + 1, y), i - 1, i + 1),
      axis(reached(x, y - 1), reached(x, y + 1), i - width, i + width),
    ];
  };

  // ∇I of each pixel and channel: finite differences over the known pixels; a filled pixel takes the
  // weighted mean of its neighbours' (never differences of filled values, whose errors would feed
  // back into the extrapolation and run away at strong edges).
  const imageGradient = new Float64Array(width * height * 6);
  const isKnown = (x: number, y: number) => x >= 0 && y >= 0 && x < width && y < height && !mask[y * width + x];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (mask[i]) continue;
      // Central differences where both neighbours are known, one-sided where one is, else 0.
      const left = isKnown(x - 1, y) ? i - 1 : i, right = isKnown(x + 1, y) ? i + 1 : i;
      const up = isKnown(x, y - 1) ? i - width : i, down = isKnown(x, y + 1) ? i + width : i;
      for (let c = 0; c < 3; c++) {
        imageGradient[i * 6 + c * 2] = right === left ? 0 : (value[right * 3 + c] - value[left * 3 + c]) / (right - left);
        imageGradient[i * 6 + c * 2 + 1] = down === up ? 0 : (value[down * 3 + c] - value[up * 3 + c]) / ((down - up) / width);
      }
    }
  }

  const r = Math.floor(radius);
  const fill = (x: number, y: number): void => {
    const p = y * width + x;
    const [gtx, gty] = distanceGradient(x, y);
    const gtNorm = Math.hypot(gtx, gty);
    const sum = [0, 0, 0];
    const gradientSum = [0, 0, 0, 0, 0, 0];
    let weights = 0;
    for (let qy = Math.max(0, y - r); qy <= Math.min(height - 1, y + r); qy++) {
      for (let qx = Math.max(0, x - r); qx <= Math.min(width - 1, x + r); qx++) {
        const q = qy * width + qx;
        const rx = x - qx, ry = y - qy;
        const d2 = rx * rx + ry * ry;
        if (q === p || flag[q] === INSIDE || d2 > radius * radius) continue;
        const dist = Math.sqrt(d2);
        // Direction: favour q along the normal of the front; never quite zero, so that a pixel
        // with all its neighbours beside the normal still gets a value.
        const direction = gtNorm > 0 ? Math.max(Math.abs((rx * gtx + ry * gty) / (dist * gtNorm)), 1e-6) : 1;
        const w = (direction / d2) * (1 / (1 + Math.abs(t[q] - t[p])));
        for (let c = 0; c < 3; c++) {
          const gx = imageGradient[q * 6 + c * 2], gy = imageGradient[q * 6 + c * 2 + 1];
          sum[c] += w * (value[q * 3 + c] + gx * rx + gy * ry);
          gradientSum[c * 2] += w * gx;
          gradientSum[c * 2 + 1] += w * gy;
        }
        weights += w;
      }
    }
    for (let c = 0; c < 3; c++) value[p * 3 + c] = sum[c] / weights;
    for (let k = 0; k < 6; k++) imageGradient[p * 6 + k] = gradientSum[k] / weights;
  };

  while (heap.size > 0) {
    const i = heap.pop();
    if (flag[i] === KNOWN) continue;
    flag[i] = KNOWN;
    for (const n of neighbours(i)) {
      if (flag[n] !== INSIDE) continue;
      const x = n % width, y = (n - x) / width;
      t[n] = Math.min(solve(x - 1, y, x, y - 1), solve(x + 1, y, x, y - 1), solve(x - 1, y, x, y + 1), solve(x + 1, y, x, y + 1));
      // Filled while still INSIDE, so that its own stale value enters no neighbour's gradient.
      fill(x, y);
      flag[n] = BAND;
      heap.push(n, t[n]);
    }
  }

  const out = Uint8Array.from(image.data);
  for (let i = 0; i < mask.length; i++)
    if (mask[i]) for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.min(255, Math.max(0, Math.round(value[i * 3 + c])));
  return { width, height, data: out };
}
