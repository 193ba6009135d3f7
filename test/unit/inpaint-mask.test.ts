import { describe, expect, it } from 'vitest';
import { invertSimilarity, type Similarity } from '../../src/align/similarity.ts';
import { warpImage } from '../../src/align/warp.ts';
import { boxHole, holeArea, holeFromMaskImage, warpHole } from '../../src/repair/hole.ts';

function rows(hole: Uint8Array, width: number): string[] {
  const out: string[] = [];
  for (let y = 0; y * width < hole.length; y++) out.push(Array.from(hole.subarray(y * width, (y + 1) * width)).join(''));
  return out;
}

describe('boxHole', () => {
  it('marks the pixels whose centre lies inside the box', () => {
    // x from 1.4 to 3.6: centres 1.5, 2.5, 3.5 are inside; y from 0.6 to 2.5: centres 1.5 only (0.5 < 0.6, 2.5 is the open end).
    expect(rows(boxHole({ x: 1.4, y: 0.6, width: 2.2, height: 1.9 }, 5, 3), 5)).toEqual(['00000', '01110', '00000']);
  });

  it('clips the box to the image and leaves a box outside it empty', () => {
    expect(rows(boxHole({ x: -2, y: -2, width: 4, height: 3 }, 3, 2), 3)).toEqual(['110', '000']);
    expect(holeArea(boxHole({ x: 10, y: 0, width: 4, height: 4 }, 3, 2))).toBe(0);
  });

  it('refuses an empty box', () => {
    expect(() => boxHole({ x: 0, y: 0, width: 0, height: 3 }, 3, 3)).toThrow(/positive width and height/);
  });
});

describe('holeFromMaskImage', () => {
  it('takes light pixels (grey ≥ 128) as the hole', () => {
    expect(Array.from(holeFromMaskImage({ width: 4, height: 1, data: Uint8Array.of(0, 127, 128, 255) }))).toEqual([0, 0, 1, 1]);
  });
});

describe('warpHole', () => {
  it('is the hole itself under the identity', () => {
    const hole = boxHole({ x: 3, y: 5, width: 7, height: 4 }, 16, 16);
    expect(warpHole(hole, 16, 16, { a: 1, b: 0, tx: 0, ty: 0 }, 16)).toEqual(hole);
  });

  it('carries a box of the photo into the crop by the crop transform', () => {
    // photo → crop: halve and shift by (−20, −10). A 40×20 box at (60, 50) lands at (10, 15), 20×10 crop pixels.
    const photoToCrop: Similarity = { a: 0.5, b: 0, tx: -20, ty: -10 };
    const hole = boxHole({ x: 60, y: 50, width: 40, height: 20 }, 200, 150);
    const cropHole = warpHole(hole, 200, 150, invertSimilarity(photoToCrop), 64);
    expect(cropHole).toEqual(boxHole({ x: 10, y: 15, width: 20, height: 10 }, 64, 64));
  });

  it('covers, in the crop, the pixels that show the occluder in the warped photo', () => {
    // A white occluder on a black photo, a rotated and scaled crop: the warped hole must be where the
    // warped photo is (at least half) white, pixel for pixel.
    const width = 180, height = 140;
    const hole = boxHole({ x: 70.3, y: 40.8, width: 50, height: 33 }, width, height);
    const photo = { width, height, data: new Uint8Array(width * height * 3) };
    hole.forEach((h, i) => photo.data.fill(h * 255, i * 3, i * 3 + 3));
    const angle = 0.3, scale = 0.7;
    const photoToCrop: Similarity = { a: scale * Math.cos(angle), b: scale * Math.sin(angle), tx: -20, ty: -45 };
    const toPhoto = invertSimilarity(photoToCrop);
    const warped = warpImage(photo, toPhoto, 128, 128);
    const cropHole = warpHole(hole, width, height, toPhoto, 128);
    const expected = new Uint8Array(128 * 128).map((_, i) => (warped.data[i * 3] >= 128 ? 1 : 0));
    expect(holeArea(cropHole)).toBeGreaterThan(0.9 * 50 * 33 * scale * scale);
    expect(cropHole).toEqual(expected);
  });

  it('refuses a hole of the wrong size', () => {
    expect(() => warpHole(new Uint8Array(10), 4, 4, { a: 1, b: 0, tx: 0, ty: 0 }, 4)).toThrow(/10 values, a 4×4 image has 16/);
  });
});
