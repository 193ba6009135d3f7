// From probabilities to the inpainting hole, the face area and the occluded fraction.
import { describe, expect, it } from 'vitest';
import { convexHull, faceRegion, occludedFraction, occlusionMask } from '../../src/repair/mask.ts';

describe('occlusionMask', () => {
  it('thresholds the probabilities (at or above is covered)', () => {
    const p = Float32Array.from([0.1, 0.5, 0.49, 0.9]);
    expect([...occlusionMask(p, 2, 0.5, 0)]).toEqual([0, 1, 0, 1]);
  });

  it('grows the mask by whole pixels, clipped at the border', () => {
    const p = new Float32Array(25);
    p[12] = 1; // the centre of 5×5
    expect(occlusionMask(p, 5, 0.5, 1).reduce((s, v) => s + v, 0)).toBe(9);
    expect(occlusionMask(p, 5, 0.5, 2).reduce((s, v) => s + v, 0)).toBe(25);
    const corner = new Float32Array(25);
    corner[0] = 1;
    expect(occlusionMask(corner, 5, 0.5, 1).reduce((s, v) => s + v, 0)).toBe(4);
  });

  it('refuses a map of the wrong size and a threshold outside 0…1', () => {
    expect(() => occlusionMask(new Float32Array(10), 4, 0.5, 0)).toThrow(/16 pixels/);
    expect(() => occlusionMask(new Float32Array(16), 4, 1.5, 0)).toThrow(/threshold/);
  });
});

describe('faceRegion and occludedFraction', () => {
  it('the hull drops inner points', () => {
    const hull = convexHull([{ x: 0, y: 0 }, { x: 4, y: 0 }, { x: 2, y: 2 }, { x: 4, y: 4 }, { x: 0, y: 4 }]);
    expect(hull).toHaveLength(4);
    expect(hull).not.toContainEqual({ x: 2, y: 2 });
  });

  it('counts the pixels whose centre lies in the hull of the landmarks', () => {
    const square = [{ x: 2, y: 2 }, { x: 6, y: 2 }, { x: 6, y: 6 }, { x: 2, y: 6 }, { x: 4, y: 4 }];
    const region = faceRegion(square, 8);
    expect(region.reduce((s, v) => s + v, 0)).toBe(16);
    expect(region[2 * 8 + 2]).toBe(1);
    expect(region[6 * 8 + 6]).toBe(0);
  });

  it('is the covered share of the region, ignoring what lies outside it', () => {
    const region = Uint8Array.from([1, 1, 1, 1, 0, 0]);
    expect(occludedFraction(Uint8Array.from([1, 0, 0, 0, 1, 1]), region)).toBe(0.25);
    expect(occludedFraction(new Uint8Array(6), new Uint8Array(6))).toBe(0);
  });
});
