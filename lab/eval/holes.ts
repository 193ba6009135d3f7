// The evaluation's occlusion (paper §IV): a 48×48 white block at a random place of each 128×128
// crop, drawn from a PRNG seeded by the image and the run's seed, so that every method sees the
// same block and a re-run sees the same again.
import { createHash } from 'node:crypto';
import { boxHole } from '../../src/repair/hole.ts';
import type { Box, RgbImage } from '../../src/types.ts';

/** Side of the block, pixels of the 128 crop. */
export const EVAL_HOLE_SIZE = 48;

/**
 * The block's place for one image: x and y uniform in 0 … cropSize − holeSize, from the first
 * bytes of SHA-256("seed:key"). `key` should name the image independently of where LFW lies on
 * disk (e.g. "George_W_Bush/George_W_Bush_0010.jpg"), so that every machine draws the same block.
 */
export function seededHoleBox(key: string, seed: number, cropSize = 128, holeSize = EVAL_HOLE_SIZE): Box {
  if (!(Number.isInteger(seed) && seed >= 0)) throw new RangeError(`the hole seed must be a non-negative integer, got ${seed}`);
  if (!(holeSize > 0 && holeSize <= cropSize)) throw new RangeError(`a ${holeSize}-pixel hole does not fit a ${cropSize}-pixel crop`);
  const digest = createHash('sha256').update(`${seed}:${key}`).digest();
  const places = cropSize - holeSize + 1;
  // 32-bit draws: the modulo bias over ≤ 2^16 places is below 2^-16.
  return { x: digest.readUInt32BE(0) % places, y: digest.readUInt32BE(4) % places, width: holeSize, height: holeSize };
}

/** The block as a mask (1 inside) of a cropSize×cropSize crop. */
export function seededHole(key: string, seed: number, cropSize = 128, holeSize = EVAL_HOLE_SIZE): Uint8Array {
  return boxHole(seededHoleBox(key, seed, cropSize, holeSize), cropSize, cropSize);
}

/** The crop with white wherever the mask is 1: the OCC condition, and the inpainters' input. */
export function whiteOut(crop: RgbImage, mask: Uint8Array): RgbImage {
  if (mask.length !== crop.width * crop.height) throw new RangeError(`mask has ${mask.length} values, a ${crop.width}×${crop.height} crop has ${crop.width * crop.height}`);
  const data = Uint8Array.from(crop.data);
  for (let i = 0; i < mask.length; i++) if (mask[i]) data.fill(255, i * 3, i * 3 + 3);
  return { width: crop.width, height: crop.height, data };
}
