import { describe, expect, it } from 'vitest';
import { boxHole } from '../../src/repair/hole.ts';
import { psnr } from '../../lab/eval/metrics.ts';
import { teleaInpaint } from '../../lab/eval/telea.ts';
import type { RgbImage } from '../../src/types.ts';

function image(size: number, sample: (x: number, y: number, c: number) => number): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      for (let c = 0; c < 3; c++) data[(y * size + x) * 3 + c] = Math.min(255, Math.max(0, Math.round(sample(x, y, c))));
  return { width: size, height: size, data };
}

/** The image with white where the mask is 1: what the occluded input looks like. */
function occlude(img: RgbImage, mask: Uint8Array): RgbImage {
  const data = Uint8Array.from(img.data);
  for (let i = 0; i < mask.length; i++) if (mask[i]) data.fill(255, i * 3, i * 3 + 3);
  return { ...img, data };
}

const SIZE = 64;
const hole = boxHole({ x: 20, y: 12, width: 24, height: 24 }, SIZE, SIZE);

function maxErrorInHole(a: RgbImage, b: RgbImage, mask: Uint8Array): number {
  let worst = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(a.data[i * 3 + c] - b.data[i * 3 + c]));
  return worst;
}

describe('teleaInpaint', () => {
  it('restores a constant image exactly', () => {
    const flat = image(SIZE, (_x, _y, c) => [90, 140, 30][c]);
    expect(teleaInpaint(occlude(flat, hole), hole)).toEqual(flat);
  });

  it('restores a linear gradient within a small error', () => {
    const ramp = image(SIZE, (x, y, c) => 40 + 2 * x + 1.5 * y - 20 * c);
    const restored = teleaInpaint(occlude(ramp, hole), hole);
    expect(maxErrorInHole(restored, ramp, hole)).toBeLessThanOrEqual(3);
  });

  it('leaves the pixels outside the mask unchanged', () => {
    const texture = image(SIZE, (x, y, c) => (x * 37 + y * 91 + c * 53) % 256);
    const occluded = occlude(texture, hole);
    const restored = teleaInpaint(occluded, hole);
    for (let i = 0; i < hole.length; i++)
      if (!hole[i]) expect(Array.from(restored.data.subarray(i * 3, i * 3 + 3))).toEqual(Array.from(occluded.data.subarray(i * 3, i * 3 + 3)));
  });

  it('does better than the white block on a smooth image, and stays within range on a textured one', () => {
    const smooth = image(SIZE, (x, y, c) => 128 + 60 * Math.sin(x / 9 + c) * Math.cos(y / 11));
    expect(psnr(teleaInpaint(occlude(smooth, hole), hole), smooth)).toBeGreaterThan(psnr(occlude(smooth, hole), smooth) + 10);
    const texture = image(SIZE, (x, y, c) => (x * 37 + y * 91 + c * 53) % 256);
    const restored = teleaInpaint(occlude(texture, hole), hole);
    // Values are clamped 8-bit; a runaway extrapolation would show as a block of 0s or 255s.
    let extreme = 0;
    for (let i = 0; i < hole.length; i++) if (hole[i]) for (let c = 0; c < 3; c++) if (restored.data[i * 3 + c] === 0 || restored.data[i * 3 + c] === 255) extreme++;
    expect(extreme).toBeLessThan(0.2 * 24 * 24 * 3);
  });

  it('refuses a mask of the wrong size or one that covers everything', () => {
    const flat = image(8, () => 0);
    expect(() => teleaInpaint(flat, new Uint8Array(10))).toThrow(/mask has 10 values, a 8×8 image has 64/);
    expect(() => teleaInpaint(flat, new Uint8Array(64).fill(1))).toThrow(/covers the whole image/);
  });
});
