import { describe, expect, it } from 'vitest';
import { FULL_SIZE_WIDTH, QUALITY_WEIGHTS, faceQuality, sharpnessTerm, sizeTerm } from '../../src/track/quality.ts';
import type { Box, DetectedFace, RgbImage } from '../../src/types.ts';

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A grey frame with a "face" in `box`: an 8×8 pattern of random blocks scaled to the box, so the
 * same face drawn bigger has the same structure at a bigger scale, as a person coming closer.
 */
function frameWithFace(box: Box, width = 320, height = 240, seed = 7): RgbImage {
  const next = random(seed);
  const blocks = Array.from({ length: 64 }, () => Math.floor(next() * 256));
  const data = new Uint8Array(width * height * 3).fill(128);
  for (let y = Math.max(0, box.y); y < Math.min(height, box.y + box.height); y++)
    for (let x = Math.max(0, box.x); x < Math.min(width, box.x + box.width); x++) {
      const bx = Math.floor(((x - box.x) * 8) / box.width);
      const by = Math.floor(((y - box.y) * 8) / box.height);
      data.fill(blocks[by * 8 + bx], (y * width + x) * 3, (y * width + x) * 3 + 3);
    }
  return { width, height, data };
}

/** `passes` rounds of a 3×3 box blur (edges clamped). */
function blurred(image: RgbImage, passes: number): RgbImage {
  let src = image.data;
  const { width, height } = image;
  for (let pass = 0; pass < passes; pass++) {
    const dst = new Uint8Array(src.length);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        for (let ch = 0; ch < 3; ch++) {
          let sum = 0;
          for (let dy = -1; dy <= 1; dy++)
            for (let dx = -1; dx <= 1; dx++) {
              const yy = Math.min(height - 1, Math.max(0, y + dy));
              const xx = Math.min(width - 1, Math.max(0, x + dx));
              sum += src[(yy * width + xx) * 3 + ch];
            }
          dst[(y * width + x) * 3 + ch] = Math.round(sum / 9);
        }
    src = dst;
  }
  return { width, height, data: src };
}

const detected = (box: Box, score = 0.9): DetectedFace => ({ box, score, landmarks: [] });

describe('faceQuality', () => {
  const box: Box = { x: 100, y: 60, width: 96, height: 112 };
  const image = frameWithFace(box);

  it('stays in [0, 1]', () => {
    for (const score of [0, 0.5, 1]) {
      const q = faceQuality(detected(box, score), image);
      expect(q).toBeGreaterThanOrEqual(0);
      expect(q).toBeLessThanOrEqual(1);
    }
  });

  it('scores a bigger face higher, saturating around FULL_SIZE_WIDTH', () => {
    const sizes = [24, 48, 96, 112];
    const qualities = sizes.map((side) => {
      const b = { x: 40, y: 20, width: side, height: side };
      return faceQuality(detected(b), frameWithFace(b));
    });
    for (let i = 1; i < qualities.length; i++) expect(qualities[i]).toBeGreaterThan(qualities[i - 1]);

    const frame = { width: 400, height: 400, data: new Uint8Array(400 * 400 * 3) };
    const sizeOf = (side: number) => sizeTerm({ x: 0, y: 0, width: side, height: side }, frame);
    expect(sizeOf(FULL_SIZE_WIDTH / 2)).toBeCloseTo(0.5, 12);
    expect(sizeOf(FULL_SIZE_WIDTH)).toBe(1);
    expect(sizeOf(3 * FULL_SIZE_WIDTH)).toBe(1);
  });

  it('scores a blurred copy lower than the sharp one, and more blur lower still', () => {
    const sharp = faceQuality(detected(box), image);
    const soft = faceQuality(detected(box), blurred(image, 1));
    const softer = faceQuality(detected(box), blurred(image, 4));
    expect(soft).toBeLessThan(sharp);
    expect(softer).toBeLessThan(soft);
    // Size and score are unchanged: the whole difference is the sharpness term.
    expect(sharp - softer).toBeGreaterThan(0.1);
  });

  it('gives a featureless region no sharpness', () => {
    const flat = { width: 320, height: 240, data: new Uint8Array(320 * 240 * 3).fill(90) };
    expect(sharpnessTerm(box, flat)).toBe(0);
    expect(sharpnessTerm(box, image)).toBeGreaterThan(0.5);
  });

  it('scores a more confident detection higher by the score weight', () => {
    const confident = faceQuality(detected(box, 0.9), image);
    const doubtful = faceQuality(detected(box, 0.6), image);
    expect(confident - doubtful).toBeCloseTo(QUALITY_WEIGHTS.score * 0.3, 12);
  });

  it('discounts a face cut by the frame edge, and a face outside the frame has only its score', () => {
    const inside = faceQuality(detected(box), image);
    const halfOut = { x: 320 - 48, y: 60, width: 96, height: 112 };
    expect(faceQuality(detected(halfOut), frameWithFace(halfOut))).toBeLessThan(inside);
    const outside = { x: 400, y: 300, width: 96, height: 112 };
    expect(faceQuality(detected(outside, 0.9), image)).toBeCloseTo(QUALITY_WEIGHTS.score * 0.9, 12);
  });

  it('refuses an image whose data does not match its size, and a non-finite box', () => {
    const bad = { width: 10, height: 10, data: new Uint8Array(299) };
    expect(() => faceQuality(detected(box), bad)).toThrow(/299 bytes, expected 300/);
    expect(() => faceQuality(detected({ ...box, width: NaN }), image)).toThrow(/finite/);
  });
});
