import { describe, expect, it } from 'vitest';
import {
  applySimilarity,
  composeSimilarity,
  estimateSimilarity,
  invertSimilarity,
  type Similarity,
} from '../../src/align/similarity.ts';
import { warpImage, alignToTemplate } from '../../src/align/warp.ts';
import { FACEAPI_RECOGNIZER_TEMPLATE, INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import type { Point, RgbImage } from '../../src/types.ts';

const known: Similarity = { a: 1.7 * Math.cos(0.4), b: 1.7 * Math.sin(0.4), tx: 12.5, ty: -7.25 };
const pts: Point[] = [
  { x: 10, y: 20 }, { x: 40, y: 22 }, { x: 25, y: 45 }, { x: 14, y: 60 }, { x: 37, y: 61 },
];

describe('similarity transform', () => {
  it('recovers a known transform from exact points to 1e-6', () => {
    const t = estimateSimilarity(pts, pts.map((p) => applySimilarity(known, p)));
    expect(Math.abs(t.a - known.a)).toBeLessThan(1e-6);
    expect(Math.abs(t.b - known.b)).toBeLessThan(1e-6);
    expect(Math.abs(t.tx - known.tx)).toBeLessThan(1e-6);
    expect(Math.abs(t.ty - known.ty)).toBeLessThan(1e-6);
  });

  it('is the least-squares fit under noise: residual no larger than the true transform', () => {
    const noisy = pts.map((p, i) => {
      const q = applySimilarity(known, p);
      return { x: q.x + (i % 2 ? 0.8 : -0.6), y: q.y + (i % 3 ? -0.5 : 0.7) };
    });
    const t = estimateSimilarity(pts, noisy);
    const sse = (s: Similarity) =>
      pts.reduce((acc, p, i) => {
        const q = applySimilarity(s, p);
        return acc + (q.x - noisy[i].x) ** 2 + (q.y - noisy[i].y) ** 2;
      }, 0);
    expect(sse(t)).toBeLessThanOrEqual(sse(known));
    expect(Math.abs(t.a - known.a)).toBeLessThan(0.05);
  });

  it('inverts and composes to the identity', () => {
    const id = composeSimilarity(invertSimilarity(known), known);
    expect(id.a).toBeCloseTo(1, 12);
    expect(id.b).toBeCloseTo(0, 12);
    expect(id.tx).toBeCloseTo(0, 12);
    expect(id.ty).toBeCloseTo(0, 12);
  });

  it('refuses degenerate input', () => {
    expect(() => estimateSimilarity([{ x: 1, y: 1 }], [{ x: 2, y: 2 }])).toThrow(/at least 2/);
    expect(() => estimateSimilarity([{ x: 1, y: 1 }, { x: 1, y: 1 }], [{ x: 0, y: 0 }, { x: 3, y: 3 }])).toThrow(/coincide/);
    expect(() => estimateSimilarity(pts, pts.slice(1))).toThrow(/counts differ/);
  });
});

function gradientImage(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      data[o] = (x * 3) % 256;
      data[o + 1] = (y * 2) % 256;
      data[o + 2] = (x + y) % 256;
    }
  return { width: w, height: h, data };
}

describe('warp', () => {
  it('the identity warp returns the image unchanged', () => {
    const img = gradientImage(40, 30);
    const out = warpImage(img, { a: 1, b: 0, tx: 0, ty: 0 }, 40, 30);
    expect(Buffer.from(out.data).equals(Buffer.from(img.data))).toBe(true);
  });

  it('round-trips: warp forward then back restores the interior', () => {
    const img = gradientImage(80, 80);
    // A smooth image so that bilinear resampling error stays small.
    for (let i = 0; i < img.data.length; i += 3) {
      const p = i / 3, x = p % 80, y = Math.floor(p / 80);
      img.data[i] = 100 + x; img.data[i + 1] = 50 + y; img.data[i + 2] = 128 + ((x - y) >> 1);
    }
    const t: Similarity = { a: Math.cos(0.3) * 1.1, b: Math.sin(0.3) * 1.1, tx: 5, ty: -8 };
    const forward = warpImage(img, invertSimilarity(t), 80, 80); // forward[t(p)] = img[p]
    const back = warpImage(forward, t, 80, 80); // back[p] = forward[t(p)]
    let maxErr = 0;
    for (let y = 25; y < 55; y++)
      for (let x = 25; x < 55; x++)
        for (let c = 0; c < 3; c++) {
          const i = (y * 80 + x) * 3 + c;
          maxErr = Math.max(maxErr, Math.abs(back.data[i] - img.data[i]));
        }
    expect(maxErr).toBeLessThanOrEqual(2);
  });

  it('puts the landmarks on the template points', () => {
    const img = gradientImage(300, 300);
    const landmarks: Point[] = Array.from({ length: 68 }, (_, i) => ({ x: 100 + (i % 10) * 5, y: 100 + Math.floor(i / 10) * 6 }));
    for (const template of [INPAINT_TEMPLATE, FACEAPI_RECOGNIZER_TEMPLATE]) {
      // Make the template's points an exact similarity image of the landmarks.
      const inv: Similarity = { a: 0.9, b: 0.2, tx: 30, ty: 40 };
      template.landmarkGroups.forEach(([li], k) => (landmarks[li] = applySimilarity(inv, template.points[k])));
      const { crop, transform } = alignToTemplate(img, landmarks, template);
      expect(crop.width).toBe(template.size);
      template.landmarkGroups.forEach(([li], k) => {
        const q = applySimilarity(transform, landmarks[li]);
        expect(q.x).toBeCloseTo(template.points[k].x, 6);
        expect(q.y).toBeCloseTo(template.points[k].y, 6);
      });
    }
  });
});
