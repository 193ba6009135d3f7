// Warping RGB images by a similarity transform, and the aligned crop of a face.
import type { Point, RgbImage } from '../types.ts';
import { applySimilarity, estimateSimilarity, invertSimilarity, type Similarity } from './similarity.ts';
import { sourcePoints, type CropTemplate } from './templates.ts';

/**
 * For each pixel (u, v) of a `width`×`height` output, where it samples a `sw`×`sh` source under
 * toSource: bilinearly at pixel centres, the nearest edge outside the source. `visit` gets the output
 * pixel's index, the source indices of the four neighbours (row-major, in pixels) and the weights.
 */
export function forEachBilinearSample(
  width: number,
  height: number,
  sw: number,
  sh: number,
  toSource: Similarity,
  visit: (out: number, i00: number, i01: number, i10: number, i11: number, fx: number, fy: number) => void,
): void {
  const maxX = sw - 1, maxY = sh - 1;
  for (let v = 0; v < height; v++) {
    for (let u = 0; u < width; u++) {
      // Pixel centres sit at integer + 0.5 in both spaces.
      const cu = u + 0.5, cv = v + 0.5;
      let x = toSource.a * cu - toSource.b * cv + toSource.tx - 0.5;
      let y = toSource.b * cu + toSource.a * cv + toSource.ty - 0.5;
      x = x < 0 ? 0 : x > maxX ? maxX : x;
      y = y < 0 ? 0 : y > maxY ? maxY : y;
      const x0 = Math.floor(x), y0 = Math.floor(y);
      const x1 = x0 < maxX ? x0 + 1 : x0, y1 = y0 < maxY ? y0 + 1 : y0;
      visit(v * width + u, y0 * sw + x0, y0 * sw + x1, y1 * sw + x0, y1 * sw + x1, x - x0, y - y0);
    }
  }
}

/**
 * The `width`×`height` image whose pixel (u, v) shows the source at toSource(u, v), sampled
 * bilinearly at pixel centres; samples outside the source take the nearest edge pixel.
 */
export function warpImage(src: RgbImage, toSource: Similarity, width: number, height: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  const data = src.data;
  forEachBilinearSample(width, height, src.width, src.height, toSource, (o, p00, p01, p10, p11, fx, fy) => {
    const i00 = p00 * 3, i01 = p01 * 3, i10 = p10 * 3, i11 = p11 * 3, q = o * 3;
    for (let c = 0; c < 3; c++) {
      const top = data[i00 + c] + (data[i01 + c] - data[i00 + c]) * fx;
      const bottom = data[i10 + c] + (data[i11 + c] - data[i10 + c]) * fx;
      out[q + c] = Math.round(top + (bottom - top) * fy);
    }
  });
  return { width, height, data: out };
}

export interface AlignedCrop {
  crop: RgbImage;
  /** Source image → crop. */
  transform: Similarity;
}

/** Maps the face's landmarks onto the template by least squares and cuts the crop. */
export function alignToTemplate(image: RgbImage, landmarks68: readonly Point[], template: CropTemplate): AlignedCrop {
  const transform = estimateSimilarity(sourcePoints(template, landmarks68), template.points);
  const crop = warpImage(image, invertSimilarity(transform), template.size, template.size);
  return { crop, transform };
}

/** Landmarks expressed in the crop's coordinates. */
export function landmarksInCrop(transform: Similarity, landmarks: readonly Point[]): Point[] {
  return landmarks.map((p) => applySimilarity(transform, p));
}
