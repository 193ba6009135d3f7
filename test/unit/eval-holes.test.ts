import { describe, expect, it } from 'vitest';
import { holeArea } from '../../src/repair/hole.ts';
import { EVAL_HOLE_SIZE, seededHole, seededHoleBox, whiteOut } from '../../lab/eval/holes.ts';

describe('seededHoleBox', () => {
  it('is the same for the same image and seed, and inside the crop', () => {
    const box = seededHoleBox('Ann/Ann_0001.jpg', 7);
    expect(seededHoleBox('Ann/Ann_0001.jpg', 7)).toEqual(box);
    expect(box.width).toBe(EVAL_HOLE_SIZE);
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(128);
    expect(box.y + box.height).toBeLessThanOrEqual(128);
  });

  it('moves with the image and with the seed, and covers the whole range of places', () => {
    const xs = new Set<number>(), ys = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const box = seededHoleBox(`P/P_${i}.jpg`, 0);
      xs.add(box.x);
      ys.add(box.y);
    }
    // 81 places per axis: 2,000 draws reach all of them, 0 and 80 included.
    expect(xs.size).toBe(81);
    expect(ys.size).toBe(81);
    expect(Math.max(...xs)).toBe(80);
    const seeds = new Set([0, 1, 2, 3, 4].map((s) => JSON.stringify(seededHoleBox('Ann/Ann_0001.jpg', s))));
    expect(seeds.size).toBeGreaterThan(1);
  });

  it('refuses a bad seed or a hole larger than the crop', () => {
    expect(() => seededHoleBox('a', -1)).toThrow(/non-negative integer/);
    expect(() => seededHoleBox('a', 0, 32, 48)).toThrow(/48-pixel hole does not fit a 32-pixel crop/);
  });
});

describe('seededHole and whiteOut', () => {
  it('marks a 48×48 block and paints exactly it white', () => {
    const mask = seededHole('Ann/Ann_0001.jpg', 3);
    expect(holeArea(mask)).toBe(48 * 48);
    const crop = { width: 128, height: 128, data: new Uint8Array(128 * 128 * 3).fill(10) };
    const occluded = whiteOut(crop, mask);
    for (let i = 0; i < mask.length; i++) expect(occluded.data[i * 3 + 1]).toBe(mask[i] ? 255 : 10);
    expect(crop.data[0]).toBe(10); // the input is not modified
  });
});
