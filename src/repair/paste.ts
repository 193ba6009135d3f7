// Puts an inpainted crop back into the photo it was cut from: only the hole changes.
import type { Similarity } from '../align/similarity.ts';
import type { RgbImage } from '../types.ts';

export interface PasteResult {
  image: RgbImage;
  /** Hole pixels of the photo that took the inpainted face (in part, at the feathered edge). */
  pasted: number;
  /** Hole pixels outside the crop's view: the inpainter never saw them, they keep the photo's value. */
  outsideCrop: number;
}

/**
 * The photo with the hole's pixels taken from the inpainted crop (sampled bilinearly at where each
 * pixel falls in the crop, `photoToCrop`). Pixels outside the hole are not touched. Inside, the
 * crop's weight rises from the hole's edge inward over `featherPx` photo pixels, so that the seam
 * does not show a hard step (0: a hard edge). Where the hole meets the photo's border there is no
 * seam and no ramp.
 */
export function pasteBack(photo: RgbImage, hole: Uint8Array, inpainted: RgbImage, photoToCrop: Similarity, featherPx: number): PasteResult {
  const { width, height } = photo;
  if (hole.length !== width * height) throw new RangeError(`hole has ${hole.length} values, the ${width}×${height} photo has ${width * height} pixels`);
  if (!(featherPx >= 0)) throw new RangeError(`featherPx must be 0 or more, got ${featherPx}`);
  const out = new Uint8Array(photo.data);
  const bounds = holeBounds(hole, width, height);
  if (!bounds) return { image: { width, height, data: out }, pasted: 0, outsideCrop: 0 };
  const depth = depthInHole(hole, width, bounds);
  const bw = bounds.x1 - bounds.x0;
  const size = { w: inpainted.width, h: inpainted.height };
  let pasted = 0, outsideCrop = 0;
  for (let y = bounds.y0; y < bounds.y1; y++) {
    for (let x = bounds.x0; x < bounds.x1; x++) {
      if (!hole[y * width + x]) continue;
      const px = x + 0.5, py = y + 0.5;
      const u = photoToCrop.a * px - photoToCrop.b * py + photoToCrop.tx;
      const v = photoToCrop.b * px + photoToCrop.a * py + photoToCrop.ty;
      if (!(u >= 0 && u < size.w && v >= 0 && v < size.h)) {
        outsideCrop++;
        continue;
      }
      const alpha = Math.min(1, depth[(y - bounds.y0) * bw + (x - bounds.x0)] / (featherPx + 1));
      const o = (y * width + x) * 3;
      sampleBilinear(inpainted, u - 0.5, v - 0.5, rgb);
      for (let c = 0; c < 3; c++) out[o + c] = Math.round(photo.data[o + c] + (rgb[c] - photo.data[o + c]) * alpha);
      pasted++;
    }
  }
  return { image: { width, height, data: out }, pasted, outsideCrop };
}

const rgb = new Float64Array(3);

/** Bilinear sample at continuous pixel coordinates (pixel centres on integers), edges clamped. */
function sampleBilinear(image: RgbImage, x: number, y: number, into: Float64Array): void {
  const maxX = image.width - 1, maxY = image.height - 1;
  x = x < 0 ? 0 : x > maxX ? maxX : x;
  y = y < 0 ? 0 : y > maxY ? maxY : y;
  const x0 = Math.floor(x), y0 = Math.floor(y);
  const x1 = x0 < maxX ? x0 + 1 : x0, y1 = y0 < maxY ? y0 + 1 : y0;
  const fx = x - x0, fy = y - y0;
  const d = image.data, w = image.width;
  for (let c = 0; c < 3; c++) {
    const top = d[(y0 * w + x0) * 3 + c] * (1 - fx) + d[(y0 * w + x1) * 3 + c] * fx;
    const bottom = d[(y1 * w + x0) * 3 + c] * (1 - fx) + d[(y1 * w + x1) * 3 + c] * fx;
    into[c] = top + (bottom - top) * fy;
  }
}

interface Bounds {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

function holeBounds(hole: Uint8Array, width: number, height: number): Bounds | undefined {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!hole[y * width + x]) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      y1 = y;
    }
  }
  return x1 < 0 ? undefined : { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}

/**
 * For each pixel of the bounds: 0 outside the hole, else its chessboard distance to the nearest
 * pixel outside the hole (1 on the hole's edge). Pixels beyond the photo do not count as outside.
 * Two raster passes (Rosenfeld–Pfaltz), exact for the chessboard metric.
 */
function depthInHole(hole: Uint8Array, width: number, b: Bounds): Float64Array {
  const bw = b.x1 - b.x0, bh = b.y1 - b.y0;
  const photoHeight = hole.length / width;
  const depth = new Float64Array(bw * bh);
  // Neighbours just outside the bounds but inside the photo are never hole pixels: distance 0 there.
  const at = (x: number, y: number): number => {
    if (x < 0 || y < 0 || x >= width || y >= photoHeight) return Infinity;
    if (x < b.x0 || x >= b.x1 || y < b.y0 || y >= b.y1) return 0;
    return depth[(y - b.y0) * bw + (x - b.x0)];
  };
  for (let y = b.y0; y < b.y1; y++) {
    for (let x = b.x0; x < b.x1; x++) {
      const i = (y - b.y0) * bw + (x - b.x0);
      depth[i] = hole[y * width + x] ? 1 + Math.min(at(x - 1, y), at(x - 1, y - 1), at(x, y - 1), at(x + 1, y - 1)) : 0;
    }
  }
  for (let y = b.y1 - 1; y >= b.y0; y--) {
    for (let x = b.x1 - 1; x >= b.x0; x--) {
      const i = (y - b.y0) * bw + (x - b.x0);
      if (depth[i] === 0) continue;
      depth[i] = Math.min(depth[i], 1 + Math.min(at(x + 1, y), at(x + 1, y + 1), at(x, y + 1), at(x - 1, y + 1)));
    }
  }
  return depth;
}
