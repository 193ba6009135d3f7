// A box of an image stretched to another size (its axes scaled apart, unlike warp.ts's similarity):
// what the faceplugin models take as input.
import type { Box, RgbImage } from '../types.ts';

/**
 * The `box` of `image` stretched to `width`×`height`, sampled bilinearly at pixel centres, RGB
 * interleaved, unrounded (0–255); samples outside the image take the nearest edge pixel, or `fill`
 * when it is given (a photo placed on a plain canvas).
 */
export function resizeBox(image: RgbImage, box: Box, width: number, height: number, fill?: number): Float64Array {
  if (!(box.width > 0 && box.height > 0)) throw new RangeError(`box must have a positive size, got ${box.width}×${box.height}`);
  const out = new Float64Array(width * height * 3);
  const { width: sw, height: sh, data } = image;
  const maxX = sw - 1, maxY = sh - 1;
  const sx = box.width / width, sy = box.height / height;
  for (let v = 0; v < height; v++) {
    const rowY = box.y + (v + 0.5) * sy;
    let y = rowY - 0.5;
    y = y < 0 ? 0 : y > maxY ? maxY : y;
    const y0 = Math.floor(y), y1 = y0 < maxY ? y0 + 1 : y0, fy = y - y0;
    for (let u = 0; u < width; u++) {
      const colX = box.x + (u + 0.5) * sx;
      const o = (v * width + u) * 3;
      if (fill !== undefined && (colX < 0 || colX >= sw || rowY < 0 || rowY >= sh)) {
        out[o] = out[o + 1] = out[o + 2] = fill;
        continue;
      }
      let x = colX - 0.5;
      x = x < 0 ? 0 : x > maxX ? maxX : x;
      const x0 = Math.floor(x), x1 = x0 < maxX ? x0 + 1 : x0, fx = x - x0;
      const a = (y0 * sw + x0) * 3, b = (y0 * sw + x1) * 3, c = (y1 * sw + x0) * 3, d = (y1 * sw + x1) * 3;
      for (let k = 0; k < 3; k++) {
        const top = data[a + k] * (1 - fx) + data[b + k] * fx;
        const bottom = data[c + k] * (1 - fx) + data[d + k] * fx;
        out[o + k] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return out;
}
