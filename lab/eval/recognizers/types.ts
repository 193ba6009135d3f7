// The recognizers the evaluation compares, behind one small interface. Each brings its own
// alignment (where five face points land in its input chip) and its own input normalisation; the
// chip is cut from the photo with the service's detector landmarks.
import { composeSimilarity, estimateSimilarity, invertSimilarity, type Similarity } from '../../../src/align/similarity.ts';
import { sourcePoints, type CropTemplate } from '../../../src/align/templates.ts';
import { warpImage } from '../../../src/align/warp.ts';
import type { Point, RgbImage } from '../../../src/types.ts';

/** A recognizer's own alignment: which points of the 68 landmarks go where in its square chip. */
export interface ChipGeometry {
  /** Stored with cached embeddings: a change of alignment is a change of recognizer version. */
  readonly name: string;
  /** Side of the chip, pixels. */
  readonly size: number;
  /** Where the face points land in the chip. */
  readonly points: readonly Point[];
  /** The same face points picked or averaged out of iBUG-order 68-point landmarks. */
  sourcePoints(landmarks68: readonly Point[]): Point[];
}

export interface EvalRecognizer {
  /** The name on the command line and in results.json, e.g. "faceapi". */
  readonly id: string;
  /** Changes with the weights or the chip geometry: cached embeddings of another version are not used. */
  readonly version: string;
  readonly dims: number;
  /** What the numbers are, for results.md (model, input, normalisation). */
  readonly description: string;
  readonly chip: ChipGeometry;
  /** One embedding per chip (each `chip.size` square, cut with `chip`). */
  embed(chips: RgbImage[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}

/** A CropTemplate (landmark groups → points) as a ChipGeometry. */
export function templateGeometry(template: CropTemplate): ChipGeometry {
  return {
    name: template.name,
    size: template.size,
    points: template.points,
    sourcePoints: (landmarks68) => sourcePoints(template, landmarks68),
  };
}

/** Chip pixel → photo pixel: the least-squares similarity of the face points onto the geometry, inverted. */
export function chipToPhoto(geometry: ChipGeometry, landmarks68: readonly Point[]): Similarity {
  return invertSimilarity(estimateSimilarity(geometry.sourcePoints(landmarks68), geometry.points));
}

/** What a condition did to a face: its restored 128 crop and the hole that crop filled. */
export interface RestoredCrop {
  crop: RgbImage;
  /** One byte per crop pixel, 1 inside the hole. */
  hole: Uint8Array;
  /** Photo pixel → crop pixel (the inpainting alignment). */
  photoToCrop: Similarity;
}

/**
 * The recognizer's chip of a photo as a condition left it: cut from the photo with the recognizer's
 * own alignment, except where a chip pixel falls in the hole of the inpainting crop, which shows the
 * condition's pixels there. So every condition differs from GT only inside the hole, whatever part
 * of the face a recognizer's chip covers, and no pixel is resampled twice outside the hole.
 */
export function cutChip(photo: RgbImage, landmarks68: readonly Point[], geometry: ChipGeometry, restored?: RestoredCrop): RgbImage {
  const toPhoto = chipToPhoto(geometry, landmarks68);
  const chip = warpImage(photo, toPhoto, geometry.size, geometry.size);
  if (restored) overlayHole(chip, composeSimilarity(restored.photoToCrop, toPhoto), restored);
  return chip;
}

/** Replaces the chip pixels that land in the crop's hole by the crop's (bilinear) pixels there. */
function overlayHole(chip: RgbImage, chipToCrop: Similarity, { crop, hole }: RestoredCrop): void {
  const { width: cw, height: ch, data } = crop;
  if (hole.length !== cw * ch) throw new RangeError(`hole has ${hole.length} values, the ${cw}×${ch} crop has ${cw * ch} pixels`);
  const maxX = cw - 1, maxY = ch - 1;
  for (let v = 0; v < chip.height; v++) {
    for (let u = 0; u < chip.width; u++) {
      const cu = u + 0.5, cv = v + 0.5;
      const qx = chipToCrop.a * cu - chipToCrop.b * cv + chipToCrop.tx;
      const qy = chipToCrop.b * cu + chipToCrop.a * cv + chipToCrop.ty;
      if (!(qx >= 0 && qx < cw && qy >= 0 && qy < ch) || !hole[Math.floor(qy) * cw + Math.floor(qx)]) continue;
      const x = Math.min(maxX, Math.max(0, qx - 0.5)), y = Math.min(maxY, Math.max(0, qy - 0.5));
      const x0 = Math.floor(x), y0 = Math.floor(y);
      const x1 = x0 < maxX ? x0 + 1 : x0, y1 = y0 < maxY ? y0 + 1 : y0;
      const fx = x - x0, fy = y - y0;
      const o = (v * chip.width + u) * 3;
      for (let c = 0; c < 3; c++) {
        const top = data[(y0 * cw + x0) * 3 + c] * (1 - fx) + data[(y0 * cw + x1) * 3 + c] * fx;
        const bottom = data[(y1 * cw + x0) * 3 + c] * (1 - fx) + data[(y1 * cw + x1) * 3 + c] * fx;
        chip.data[o + c] = Math.round(top + (bottom - top) * fy);
      }
    }
  }
}

/** The chips of a batch must all be the recognizer's size: a wrong one is a bug upstream, said plainly. */
export function checkChips(recognizerId: string, chips: readonly RgbImage[], size: number): void {
  for (const chip of chips)
    if (chip.width !== size || chip.height !== size) throw new RangeError(`${recognizerId} takes ${size}×${size} chips, got ${chip.width}×${chip.height}`);
}
