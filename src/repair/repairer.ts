// repair: between align and embed. Finds what covers each aligned face (the occlusion segmenter);
// when enough of the face is covered, the ID-GAN generator fills it, the repaired face goes back into
// a copy of the frame, and the recognizer's crop is cut again from that copy. With a landmarker the
// face is first aligned again on its landmarks: the detector's landmark net misplaces the nose and
// mouth under a mask, and the segmenter's crop (and the face area it is judged on) moves with them.
import { map, concatMap, type OperatorFunction } from 'rxjs';
import { estimateSimilarity, invertSimilarity, scaleOf, type Similarity } from '../align/similarity.ts';
import { INPAINT_TEMPLATE, sourcePoints } from '../align/templates.ts';
import { alignToTemplate, landmarksInCrop } from '../align/warp.ts';
import { pasteBack } from './paste.ts';
import type { Inpainter } from './inpainter-types.ts';
import { faceRegion, occludedFraction, occlusionMask } from './mask.ts';
import type { OcclusionSegmenter } from './segmenter-types.ts';
import type { Landmarker, Recognizer } from '../models/types.ts';
import { inpaintedFaces, occludedFractionHistogram } from '../observe/metrics.ts';
import { stageLogger } from '../observe/log.ts';
import type { AlignedFace, Point, RgbImage } from '../types.ts';
import type { RepairedFace, StageClock } from '../pipeline/stages.ts';

export interface RepairSettings {
  /** Pixel probability from which a pixel counts as covered. */
  threshold: number;
  /** Inpaint when the covered share of the face area is above this. */
  minFraction: number;
  /** Growth of the found mask before inpainting, crop pixels. */
  dilatePx: number;
}

/** What the repair stage found on one face (and, when it inpainted, what it made). */
export interface FaceOcclusion {
  /** Share (0–1) of the face area (hull of the landmarks in the aligned crop) found covered. */
  fraction: number;
  /** Most of what covers the face lies below the eyes (a mask, a scarf, a hand over the mouth). */
  belowEyes: boolean;
  /** Present when inpainting ran: the repaired 128×128 aligned face… */
  inpainted?: RgbImage;
  /** …and the hole it filled, one byte per crop pixel (1 = covered). */
  mask?: Uint8Array;
  /** …and the recognizer's crop of the face as it came (before the repair). */
  unrepairedCrop?: RgbImage;
  /** The landmarks the crop was aligned on, when the repairer's landmarker located them (the upper-face stage reuses them). */
  located?: { by: string; points: readonly Point[] };
}

/**
 * An occlusion is "below the eyes" when at most this share of its pixels lies above EYE_LINE_ROW. Real
 * masks reach up to the nose bridge: over the 180 RMFD sample crops the round-3 segmenter finds ≥ 5 %
 * covered, a median 1.5 % (p75 14 %) of the found mask lies above row 52, and 82 % of the crops pass;
 * sunglasses and hat brims lie mostly above it.
 */
const MAX_SHARE_ABOVE_EYE_LINE = 0.25;
/** A third of the way from the eye corners down to the base of the nose (template points 2 and 4): row 53 of 128. */
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

/** Feathered edge of the face pasted back, in crop pixels (as `unmask inpaint` pastes). */
const FEATHER_CROP_PX = 1.5;

const log = stageLogger('repair');

export class FaceRepairer {
  private readonly failuresLogged = new Set<'landmarker' | 'model'>();

  /**
   * `inpainter` undefined: faces are segmented (the alert carries the fraction) but never repaired.
   * `landmarker` undefined: the segmenter's crop is the align stage's, on the detector's landmarks.
   */
  constructor(
    readonly segmenter: OcclusionSegmenter,
    readonly inpainter: Inpainter | undefined,
    private readonly settings: RepairSettings,
    readonly landmarker?: Landmarker,
  ) {
    if (segmenter.size !== INPAINT_TEMPLATE.size) throw new RangeError(`the segmenter takes ${segmenter.size} px crops, the inpainting space is ${INPAINT_TEMPLATE.size}`);
    if (inpainter && inpainter.size !== INPAINT_TEMPLATE.size)
      throw new RangeError(`the inpainter takes ${inpainter.size} px crops, the inpainting space is ${INPAINT_TEMPLATE.size}`);
  }

  /**
   * The faces of one frame, each with its occlusion; repaired ones get a new recognizer crop cut from
   * the frame with the inpainted face pasted in. A model failure leaves the faces as they came (logged
   * once): a face that cannot be repaired is still worth recognising.
   */
  async repair(frame: RgbImage, detectorAligned: AlignedFace[], recognizer: Recognizer, clock: StageClock): Promise<RepairedFace[]> {
    if (!detectorAligned.length) return [];
    const { faces, landmarks, locatedBy } = await this.alignForSegmenter(frame, detectorAligned, clock);
    let probabilities: Float32Array[];
    const segmentStart = performance.now();
    try {
      probabilities = await this.segmenter.segment(faces.map((f) => f.crop));
    } catch (err) {
      this.logFailure('model', 'occlusion segmentation failed; faces go on unrepaired', err);
      return faces;
    } finally {
      clock('occlusion', performance.now() - segmentStart);
    }
    const size = INPAINT_TEMPLATE.size;
    const found = faces.map((face, i) => {
      const transform = estimateSimilarity(sourcePoints(INPAINT_TEMPLATE, landmarks[i]), INPAINT_TEMPLATE.points);
      const mask = occlusionMask(probabilities[i], size, this.settings.threshold, this.settings.dilatePx);
      const fraction = occludedFraction(mask, faceRegion(landmarksInCrop(transform, landmarks[i]), size));
      occludedFractionHistogram.observe(fraction);
      return { face, transform, mask, fraction, belowEyes: coveredBelowEyes(mask, size) };
    });
    const toInpaint = this.inpainter ? found.filter((f) => f.fraction > this.settings.minFraction) : [];
    const repaired = new Map<AlignedFace, FaceOcclusion & { recognizerCrop: RgbImage }>();
    if (toInpaint.length) {
      const inpaintStart = performance.now();
      try {
        const inpainted = await this.inpainter!.inpaint(toInpaint.map((f) => f.face.crop), toInpaint.map((f) => f.mask));
        toInpaint.forEach(({ face, transform, mask, fraction, belowEyes }, i) => {
          const recognizerCrop = recognizerCropOfRepair(frame, face, transform, mask, inpainted[i], recognizer);
          repaired.set(face, { fraction, belowEyes, inpainted: inpainted[i], mask, unrepairedCrop: face.recognizerCrop, recognizerCrop });
        });
        inpaintedFaces.inc(toInpaint.length);
      } catch (err) {
        this.logFailure('model', 'inpainting failed; occluded faces go on unrepaired', err);
      } finally {
        clock('inpaint', performance.now() - inpaintStart);
      }
    }
    return found.map(({ face, fraction, belowEyes }, i) => {
      const located = locatedBy ? { located: { by: locatedBy, points: landmarks[i] } } : {};
      const done = repaired.get(face);
      if (!done) return { ...face, occlusion: { fraction, belowEyes, ...located } };
      const { recognizerCrop, ...occlusion } = done;
      return { ...face, recognizerCrop, occlusion: { ...occlusion, ...located } };
    });
  }

  /**
   * The faces with their segmenter crop cut on the landmarker's landmarks (or as aligned, without one
   * or when it fails), the landmarks each crop was cut on, and the landmarker's id when it located them.
   */
  private async alignForSegmenter(
    frame: RgbImage,
    faces: AlignedFace[],
    clock: StageClock,
  ): Promise<{ faces: AlignedFace[]; landmarks: (readonly Point[])[]; locatedBy?: string }> {
    const detectorLandmarks = faces.map((f) => f.observation.face.landmarks);
    if (!this.landmarker) return { faces, landmarks: detectorLandmarks };
    const start = performance.now();
    try {
      const landmarks: Point[][] = [];
      for (const face of faces) landmarks.push(await this.landmarker.locate(frame, face.observation.face.box));
      return {
        faces: faces.map((face, i) => ({ ...face, crop: alignToTemplate(frame, landmarks[i], INPAINT_TEMPLATE).crop })),
        landmarks,
        locatedBy: this.landmarker.id,
      };
    } catch (err) {
      this.logFailure('landmarker', `landmarker ${this.landmarker.id} failed; faces are segmented as the detector's landmarks align them`, err);
      return { faces, landmarks: detectorLandmarks };
    } finally {
      clock('occlusion_landmarks', performance.now() - start);
    }
  }

  /** Closes the segmenter and the inpainter; the landmarker is shared (the upper-face stage), its owner closes it. */
  async close(): Promise<void> {
    await this.segmenter.close();
    await this.inpainter?.close();
  }

  private logFailure(what: 'landmarker' | 'model', message: string, err: unknown): void {
    // Once: a broken model fails on every face, and the log must stay readable.
    if (this.failuresLogged.has(what)) return;
    this.failuresLogged.add(what);
    log.error({ err: (err as Error).message }, `${message} (further failures are not logged)`);
  }
}

/**
 * The inpainted face pasted into a copy of the frame (only the hole's pixels change, as in `unmask
 * inpaint`), and the recognizer's crop cut from that copy with the face's own landmarks.
 */
export function recognizerCropOfRepair(
  frame: RgbImage,
  face: AlignedFace,
  frameToCrop: Similarity,
  cropMask: Uint8Array,
  inpainted: RgbImage,
  recognizer: Recognizer,
): RgbImage {
  const hole = holeInFrame(cropMask, inpainted.width, frame.width, frame.height, frameToCrop);
  const pasted = pasteBack(frame, hole, inpainted, frameToCrop, FEATHER_CROP_PX / scaleOf(frameToCrop));
  return alignToTemplate(pasted.image, face.observation.face.landmarks, recognizer.template).crop;
}

/**
 * The crop's mask seen in the frame: a frame pixel is in the hole when its centre falls on a hole pixel
 * of the crop (nearest neighbour). Only the crop's footprint in the frame is visited.
 */
export function holeInFrame(cropMask: Uint8Array, size: number, width: number, height: number, frameToCrop: Similarity): Uint8Array {
  if (cropMask.length !== size * size) throw new RangeError(`crop mask has ${cropMask.length} values, a ${size}×${size} crop has ${size * size}`);
  const hole = new Uint8Array(width * height);
  const cropToFrame = invertSimilarity(frameToCrop);
  const corners = [
    [0, 0],
    [size, 0],
    [0, size],
    [size, size],
  ].map(([u, v]) => ({ x: cropToFrame.a * u - cropToFrame.b * v + cropToFrame.tx, y: cropToFrame.b * u + cropToFrame.a * v + cropToFrame.ty }));
  const x0 = Math.max(0, Math.floor(Math.min(...corners.map((c) => c.x))));
  const x1 = Math.min(width, Math.ceil(Math.max(...corners.map((c) => c.x))));
  const y0 = Math.max(0, Math.floor(Math.min(...corners.map((c) => c.y))));
  const y1 = Math.min(height, Math.ceil(Math.max(...corners.map((c) => c.y))));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const px = x + 0.5, py = y + 0.5;
      const u = Math.floor(frameToCrop.a * px - frameToCrop.b * py + frameToCrop.tx);
      const v = Math.floor(frameToCrop.b * px + frameToCrop.a * py + frameToCrop.ty);
      if (u >= 0 && u < size && v >= 0 && v < size && cropMask[v * size + u]) hole[y * width + x] = 1;
    }
  }
  return hole;
}

/**
 * The stage: the frame's aligned faces through the repairer; without one (no occlusion model) the
 * faces pass unchanged. `frame` is the frame these faces were aligned from.
 */
export function repairStage(
  repairer: FaceRepairer | undefined,
  frame: RgbImage,
  recognizer: Recognizer,
  clock: StageClock,
): OperatorFunction<AlignedFace[], RepairedFace[]> {
  if (!repairer) return map((faces) => faces);
  return concatMap(async (faces) => {
    if (!faces.length) return [];
    const start = performance.now();
    try {
      return await repairer.repair(frame, faces, recognizer, clock);
    } finally {
      clock('repair', performance.now() - start);
    }
  });
}
