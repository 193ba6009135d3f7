import { describe, expect, it } from 'vitest';
import type { Similarity } from '../../src/align/similarity.ts';
import { boxHole } from '../../src/repair/hole.ts';
import { pasteBack } from '../../src/repair/paste.ts';
import type { RgbImage } from '../../src/types.ts';

/** Seeded noise: every pixel differs from its neighbours, so a touched pixel shows. */
function noise(width: number, height: number, seed = 1): RgbImage {
  const data = new Uint8Array(width * height * 3);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = s >>> 24;
  }
  return { width, height, data };
}

function solid(size: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) data.set(rgb, i * 3);
  return { width: size, height: size, data };
}

const pixel = (image: RgbImage, x: number, y: number) => Array.from(image.data.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3));
const GREEN: [number, number, number] = [10, 200, 30];

describe('pasteBack', () => {
  // A rotated, scaled crop placement, as a real face gives.
  const photoToCrop: Similarity = { a: 0.9 * Math.cos(0.2), b: 0.9 * Math.sin(0.2), tx: -30, ty: -60 };

  it('changes no pixel outside the hole', () => {
    const photo = noise(200, 160);
    const hole = boxHole({ x: 80, y: 60, width: 45, height: 30 }, 200, 160);
    const { image, pasted } = pasteBack(photo, hole, noise(128, 128, 7), photoToCrop, 3);
    expect(pasted).toBe(45 * 30);
    let changedOutside = 0, changedInside = 0;
    for (let p = 0; p < 200 * 160; p++) {
      const same = image.data[p * 3] === photo.data[p * 3] && image.data[p * 3 + 1] === photo.data[p * 3 + 1] && image.data[p * 3 + 2] === photo.data[p * 3 + 2];
      if (hole[p]) changedInside += same ? 0 : 1;
      else changedOutside += same ? 0 : 1;
    }
    expect(changedOutside).toBe(0);
    expect(changedInside).toBeGreaterThan(0.95 * 45 * 30);
  });

  it('gives the hole the inpainted face, ramping in from the hole’s edge over the feather', () => {
    const photo = solid(100, [0, 0, 0]);
    const hole = boxHole({ x: 40, y: 40, width: 20, height: 20 }, 100, 100);
    const { image } = pasteBack(photo, hole, solid(128, GREEN), { a: 1, b: 0, tx: 0, ty: 0 }, 3);
    // Depth 1 (the edge) takes 1/4 of the crop, depth 2 half, 3 three quarters, from 4 on all of it.
    expect(pixel(image, 40, 50)).toEqual([3, 50, 8]);
    expect(pixel(image, 41, 50)).toEqual([5, 100, 15]);
    expect(pixel(image, 42, 50)).toEqual([8, 150, 23]);
    expect(pixel(image, 43, 50)).toEqual(GREEN);
    expect(pixel(image, 50, 50)).toEqual(GREEN);
    expect(pixel(image, 39, 50)).toEqual([0, 0, 0]);
  });

  it('pastes a hard edge without feather, and no ramp where the hole meets the photo’s border', () => {
    const photo = solid(100, [0, 0, 0]);
    const identity = { a: 1, b: 0, tx: 0, ty: 0 };
    const hard = pasteBack(photo, boxHole({ x: 40, y: 40, width: 20, height: 20 }, 100, 100), solid(128, GREEN), identity, 0).image;
    expect(pixel(hard, 40, 40)).toEqual(GREEN);
    const atBorder = pasteBack(photo, boxHole({ x: 0, y: 0, width: 20, height: 20 }, 100, 100), solid(128, GREEN), identity, 3).image;
    expect(pixel(atBorder, 0, 0)).toEqual(GREEN);
    expect(pixel(atBorder, 19, 0)).toEqual([3, 50, 8]); // the inner edge still ramps
  });

  it('samples the crop where each photo pixel falls in it', () => {
    // photo → crop: halve.
    const crop = noise(128, 128, 3);
    const photo = solid(256, [0, 0, 0]);
    const hole = boxHole({ x: 0, y: 0, width: 256, height: 256 }, 256, 256); // all of it: no edge inside the photo
    const { image } = pasteBack(photo, hole, crop, { a: 0.5, b: 0, tx: 0, ty: 0 }, 0);
    // Photo pixel (100, 60) has its centre at (100.5, 60.5), which falls on (50.25, 30.25) of the crop:
    // three quarters of the way from crop pixel centre (49.5, 29.5) to (50.5, 30.5) in x and in y.
    const x = 100, y = 60;
    const c = (cx: number, cy: number, k: number) => crop.data[(cy * 128 + cx) * 3 + k];
    const expected = [0, 1, 2].map((k) =>
      Math.round(
        0.25 * 0.25 * c(49, 29, k) + 0.75 * 0.25 * c(50, 29, k) + 0.25 * 0.75 * c(49, 30, k) + 0.75 * 0.75 * c(50, 30, k),
      ),
    );
    expect(pixel(image, x, y)).toEqual(expected);
  });

  it('leaves the hole’s pixels outside the crop as they were, and counts them', () => {
    const photo = noise(200, 100);
    const hole = boxHole({ x: 100, y: 10, width: 60, height: 10 }, 200, 100);
    // photo → crop: shift left by 30, so photo x ≥ 158 lands at crop x ≥ 128, outside the 128-px crop.
    const { image, pasted, outsideCrop } = pasteBack(photo, hole, solid(128, GREEN), { a: 1, b: 0, tx: -30, ty: 0 }, 0);
    expect(outsideCrop).toBe(2 * 10);
    expect(pasted).toBe(58 * 10);
    expect(pixel(image, 158, 15)).toEqual(pixel(photo, 158, 15));
    expect(pixel(image, 157, 15)).toEqual(GREEN);
  });

  it('returns the photo unchanged for an empty hole, and refuses a hole of the wrong size', () => {
    const photo = noise(20, 10);
    const result = pasteBack(photo, new Uint8Array(200), solid(128, GREEN), { a: 1, b: 0, tx: 0, ty: 0 }, 2);
    expect(result.image.data).toEqual(photo.data);
    expect(result.pasted).toBe(0);
    expect(() => pasteBack(photo, new Uint8Array(199), solid(128, GREEN), { a: 1, b: 0, tx: 0, ty: 0 }, 2)).toThrow(/199 values/);
  });
});
