// The face detector of npm `faceplugin-face-recognition-js` 0.0.1 (model/fr_detect.onnx, an RFB-320
// "ultra-light" detector, ~1.2 MB): the whole frame stretched to 320×240, RGB (v − 127) / 128, NCHW,
// in; a score and a corner box (fractions of the frame) per each of its 4,420 anchors, out. The
// package keeps anchors at 0.65 and above and suppresses overlaps at IoU 0.4 (fr_detect.js).
//
// Why the service has it: on camera frames it finds 199 of 200 LFW people in a surgical mask where
// face-api's TinyFace finds 133, in a median 5.7 ms a frame (training/tools/masked_detection.ts). It
// gives boxes only: the landmarks come from face-api's landmark net on its boxes (faceapi/detector.ts).
import { resizeBox } from '../align/resize.ts';
import { iou } from '../align/box.ts';
import type { Box, RgbImage } from '../types.ts';
import type { OnnxRunner } from '../models/runner.ts';
import { openVendoredModel } from '../models/files.ts';

export const DETECTOR_INPUT = { width: 320, height: 240 } as const;
/** Overlap above which the weaker of two boxes is dropped (the package's nms_threshold). */
const NMS_IOU = 0.4;
/** At most this many candidates go into the suppression (the package's top_k). */
const TOP_K = 750;

export interface ScoredBox {
  box: Box;
  score: number;
}

/** Grey of the canvas around a photo (photoCanvas): 127 is what the model's normalisation maps to 0. */
const CANVAS_GREY = 127;

/**
 * The `region` of the frame (the whole frame by default) stretched to the model's 320×240, sampled
 * bilinearly at pixel centres (as OpenCV's resize, which the package uses), RGB (v − 127) / 128,
 * channel planes one after the other. Parts of the region outside the frame are plain grey.
 */
export function frameInput(image: RgbImage, region: Box = { x: 0, y: 0, width: image.width, height: image.height }): Float32Array {
  const { width, height } = DETECTOR_INPUT;
  const rgb = resizeBox(image, region, width, height, CANVAS_GREY);
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let k = 0; k < 3; k++) out[k * plane + i] = (rgb[3 * i + k] - 127) / 128;
  return out;
}

/**
 * The model's outputs as boxes in the frame's pixels: anchors scoring `minScore` or more, best first,
 * overlaps above NMS_IOU suppressed. `scores` holds (background, face) pairs, `corners` (x0, y0, x1, y1)
 * as fractions of the frame.
 */
export function decodeDetections(scores: ArrayLike<number>, corners: ArrayLike<number>, width: number, height: number, minScore: number): ScoredBox[] {
  const anchors = scores.length / 2;
  if (corners.length !== anchors * 4) throw new Error(`the detector gave ${anchors} scores but ${corners.length / 4} boxes`);
  const candidates: ScoredBox[] = [];
  for (let i = 0; i < anchors; i++) {
    const score = scores[2 * i + 1];
    if (!(score >= minScore)) continue;
    const x0 = corners[4 * i] * width, y0 = corners[4 * i + 1] * height;
    const x1 = corners[4 * i + 2] * width, y1 = corners[4 * i + 3] * height;
    if (!(x1 > x0 && y1 > y0)) continue;
    candidates.push({ score, box: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } });
  }
  candidates.sort((a, b) => b.score - a.score);
  const kept: ScoredBox[] = [];
  for (const candidate of candidates.slice(0, TOP_K)) {
    if (kept.every((k) => iou(k.box, candidate.box) <= NMS_IOU)) kept.push(candidate);
  }
  return kept;
}

/**
 * The region a photo is detected in: the photo centred on a 4:3 grey canvas (the model's own aspect,
 * so nothing is stretched) with `margin` of its longer side around it. The model was trained on
 * scenes, not portraits: a face that fills the photo (a tight crop) is found once it has context.
 */
export function photoCanvas(width: number, height: number, margin: number): Box {
  const aspect = DETECTOR_INPUT.width / DETECTOR_INPUT.height;
  let w = width + 2 * margin * Math.max(width, height), h = height + 2 * margin * Math.max(width, height);
  if (w / h < aspect) w = h * aspect;
  else h = w / aspect;
  return { x: (width - w) / 2, y: (height - h) / 2, width: w, height: h };
}

/** Face boxes (no landmarks) by the RFB-320 model. */
export class FacepluginBoxDetector {
  readonly id = 'faceplugin-rfb320';

  constructor(private readonly runner: OnnxRunner) {
    const names = `${runner.inputNames.join(',')} → ${runner.outputNames.join(',')}`;
    if (names !== 'input → scores,boxes') throw new Error(`this is not faceplugin's face detector: its tensors are ${names}, expected input → scores,boxes`);
  }

  /** The model in this thread. */
  static async load(path?: string): Promise<FacepluginBoxDetector> {
    return new FacepluginBoxDetector(await openVendoredModel('detector', path));
  }

  /** Faces in `region` of the image (the whole image by default), in the image's pixels. */
  async boxes(image: RgbImage, minScore: number, region: Box = { x: 0, y: 0, width: image.width, height: image.height }): Promise<ScoredBox[]> {
    const out = await this.runner.run({ input: { data: frameInput(image, region), dims: [1, 3, DETECTOR_INPUT.height, DETECTOR_INPUT.width] } });
    return decodeDetections(out.scores.data, out.boxes.data, region.width, region.height, minScore).map(({ box, score }) => ({
      score,
      box: { x: box.x + region.x, y: box.y + region.y, width: box.width, height: box.height },
    }));
  }

  async close(): Promise<void> {
    await this.runner.close();
  }
}
