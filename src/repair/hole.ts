// Holes (the region to inpaint) as one byte per pixel, 1 inside: drawn in a photo's coordinates,
// and carried into the aligned crop by the crop's own similarity transform.
import type { Similarity } from '../align/similarity.ts';
import { forEachBilinearSample } from '../align/warp.ts';
import type { Box } from '../types.ts';

/** A one-channel 8-bit image: `width`×`height` bytes, rows top to bottom. */
export interface GreyImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Grey level from which a mask image's pixel is a hole: white (and light grey) marks the hole. */
export const MASK_THRESHOLD = 128;

/** The hole a mask image draws: 1 where the pixel is at least MASK_THRESHOLD. */
export function holeFromMaskImage(mask: GreyImage): Uint8Array {
  if (mask.data.length !== mask.width * mask.height)
    throw new RangeError(`mask data has ${mask.data.length} bytes, a ${mask.width}×${mask.height} grey image has ${mask.width * mask.height}`);
  const hole = new Uint8Array(mask.data.length);
  for (let i = 0; i < hole.length; i++) hole[i] = mask.data[i] >= MASK_THRESHOLD ? 1 : 0;
  return hole;
}

/** The hole of a box in image pixels: the pixels whose centre lies inside it (clipped to the image). */
export function boxHole(box: Box, width: number, height: number): Uint8Array {
  if (!(box.width > 0 && box.height > 0)) throw new RangeError(`a hole box needs a positive width and height, got ${box.width}×${box.height}`);
  const hole = new Uint8Array(width * height);
  // Pixel (x, y) has its centre at x + 0.5: it is inside when box.x ≤ x + 0.5 < box.x + box.width.
  const x0 = Math.max(0, Math.ceil(box.x - 0.5)), x1 = Math.min(width, Math.ceil(box.x + box.width - 0.5));
  const y0 = Math.max(0, Math.ceil(box.y - 0.5)), y1 = Math.min(height, Math.ceil(box.y + box.height - 0.5));
  for (let y = y0; y < y1; y++) hole.fill(1, y * width + x0, y * width + Math.max(x0, x1));
  return hole;
}

/** Pixels of a hole. */
export function holeArea(hole: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < hole.length; i++) n += hole[i];
  return n;
}

/**
 * The photo's hole seen in a `size`×`size` crop whose pixel (u, v) shows the photo at
 * toSource(u, v): sampled as warpImage samples the photo (bilinear at pixel centres, the nearest
 * edge outside the photo), a crop pixel is in the hole when at least half of what it sees is. The
 * hole thus covers, in the crop, the pixels that show the occluder.
 */
export function warpHole(hole: Uint8Array, width: number, height: number, toSource: Similarity, size: number): Uint8Array {
  if (hole.length !== width * height) throw new RangeError(`hole has ${hole.length} values, a ${width}×${height} image has ${width * height}`);
  const out = new Uint8Array(size * size);
  forEachBilinearSample(size, size, width, height, toSource, (o, i00, i01, i10, i11, fx, fy) => {
    const top = hole[i00] * (1 - fx) + hole[i01] * fx;
    const bottom = hole[i10] * (1 - fx) + hole[i11] * fx;
    out[o] = top * (1 - fy) + bottom * fy >= 0.5 ? 1 : 0;
  });
  return out;
}
