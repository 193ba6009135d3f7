// What covers an aligned face, and the route its match takes: the segmenter's probabilities made a
// mask, the mask's share of the face, whether it lies below the eyes; and the inpainted face pasted
// back into the picture it came from. The repair stage and `unmask inpaint` both use these.
import { applySimilarity, invertSimilarity, scaleOf, type Similarity } from '../align/similarity.ts';
import { INPAINT_TEMPLATE } from '../align/templates.ts';
import { landmarksInCrop } from '../align/warp.ts';
import type { Route } from '../pipeline/messages.ts';
import type { Point, RgbImage } from '../types.ts';
import { faceRegion, occludedFraction, occlusionMask } from './mask.ts';
import { pasteBack, type PasteResult } from './paste.ts';

export interface OcclusionSettings {
  /** Pixel probability from which a pixel counts as covered (occlusion.threshold). */
  threshold: number;
  /** Growth of the found mask before inpainting, crop pixels (occlusion.dilatePx). */
  dilatePx: number;
}

export interface FoundOcclusion {
  /** One byte per crop pixel, 1 = covered (grown by dilatePx). */
  mask: Uint8Array;
  /** Share (0–1) of the face area (hull of the landmarks in the crop) covered. */
  fraction: number;
  /** Most of the mask lies below the eyes (a mask, a scarf, a hand over the mouth). */
  belowEyes: boolean;
}

/**
 * The occlusion of one aligned face: the segmenter's `probability` for its crop, `frameToCrop` the
 * crop's alignment and `landmarks` the face's 68 points in the frame (they outline the face area).
 */
export function findOcclusion(probability: Float32Array, frameToCrop: Similarity, landmarks: readonly Point[], settings: OcclusionSettings): FoundOcclusion {
  const size = INPAINT_TEMPLATE.size;
  const mask = occlusionMask(probability, size, settings.threshold, settings.dilatePx);
  const fraction = occludedFraction(mask, faceRegion(landmarksInCrop(frameToCrop, landmarks), size));
  return { mask, fraction, belowEyes: coveredBelowEyes(mask, size) };
}

/**
 * An occlusion is "below the eyes" when at most this share of its pixels lies above EYE_LINE_ROW: real
 * masks reach up to the nose bridge, sunglasses and brims lie mostly above it (how this was measured:
 * models/OCCLUSION_MODEL_CARD.md, "Which faces are matched on the upper face").
 */
const MAX_SHARE_ABOVE_EYE_LINE = 0.25;
/** A third of the way from the eye corners down to the base of the nose (template points 2 and 4). */
const EYE_LINE_ROW = Math.round(INPAINT_TEMPLATE.points[2].y + (INPAINT_TEMPLATE.points[4].y - INPAINT_TEMPLATE.points[2].y) / 3);

/** Whether at most MAX_SHARE_ABOVE_EYE_LINE of the mask's covered pixels lie above the eye line. */
export function coveredBelowEyes(mask: Uint8Array, size: number): boolean {
  let covered = 0, above = 0;
  const lineRow = Math.round((EYE_LINE_ROW / INPAINT_TEMPLATE.size) * size);
  if (mask.length !== size * size) throw new RangeError(`mask has ${mask.length} values, a ${size}×${size} crop has ${size * size}`);
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    covered++;
    if (i < lineRow * size) above++;
  }
  return covered > 0 && above <= MAX_SHARE_ABOVE_EYE_LINE * covered;
}

export interface RouteSettings {
  /** occlusion.minFraction: a face covered this little or less is clean. */
  minFraction: number;
  /** Whether the upper-face route exists (match.upperFace on, and its recognizer loaded). */
  upperFace: boolean;
}

/** The one place the route of a face is decided; the later stages read it. */
export function routeOf(occlusion: Pick<FoundOcclusion, 'fraction' | 'belowEyes'> | undefined, settings: RouteSettings): Route {
  if (!occlusion || !(occlusion.fraction > settings.minFraction)) return 'clean';
  return occlusion.belowEyes && settings.upperFace ? 'upper-face' : 'repaired';
}

/** Feathered edge of the face pasted back, in crop pixels. */
const FEATHER_CROP_PX = 1.5;

/**
 * The inpainted crop pasted into a copy of the picture it was aligned from: only the pixels of `hole`
 * (one byte per picture pixel) change, with a feathered edge.
 */
export function pasteHole(picture: RgbImage, hole: Uint8Array, inpainted: RgbImage, pictureToCrop: Similarity): PasteResult {
  return pasteBack(picture, hole, inpainted, pictureToCrop, FEATHER_CROP_PX / scaleOf(pictureToCrop));
}

/** The same with the hole given in the crop (`cropMask`), seen in the picture. */
export function pasteRepair(picture: RgbImage, cropMask: Uint8Array, inpainted: RgbImage, pictureToCrop: Similarity): PasteResult {
  return pasteHole(picture, holeInFrame(cropMask, inpainted.width, picture.width, picture.height, pictureToCrop), inpainted, pictureToCrop);
}

/**
 * The crop's mask seen in the frame: a frame pixel is in the hole when its centre falls on a hole pixel
 * of the crop (nearest neighbour). Only the crop's footprint in the frame is visited.
 */
export function holeInFrame(cropMask: Uint8Array, size: number, width: number, height: number, frameToCrop: Similarity): Uint8Array {
  if (cropMask.length !== size * size) throw new RangeError(`crop mask has ${cropMask.length} values, a ${size}×${size} crop has ${size * size}`);
  const hole = new Uint8Array(width * height);
  const { a, b } = frameToCrop;
  // The crop's corners in the frame, to bound the scan.
  const cropToFrame = invertSimilarity(frameToCrop);
  const corners = [
    [0, 0],
    [size, 0],
    [0, size],
    [size, size],
  ].map(([u, v]) => applySimilarity(cropToFrame, { x: u, y: v }));
  const x0 = Math.max(0, Math.floor(Math.min(...corners.map((c) => c.x))));
  const x1 = Math.min(width, Math.ceil(Math.max(...corners.map((c) => c.x))));
  const y0 = Math.max(0, Math.floor(Math.min(...corners.map((c) => c.y))));
  const y1 = Math.min(height, Math.ceil(Math.max(...corners.map((c) => c.y))));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const px = x + 0.5, py = y + 0.5;
      const u = Math.floor(a * px - b * py + frameToCrop.tx);
      const v = Math.floor(b * px + a * py + frameToCrop.ty);
      if (u >= 0 && u < size && v >= 0 && v < size && cropMask[v * size + u]) hole[y * width + x] = 1;
    }
  }
  return hole;
}
