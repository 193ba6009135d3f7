// The service's face detector, on camera frames and on enrollment photos alike: faceplugin's RFB-320
// boxes, then 68 landmarks from face-api's landmark net (ported to ONNX) on each box, as one batch.
//
// Why these two: on camera frames RFB-320 finds 199 of 200 LFW people in a surgical mask where
// face-api's TinyFace found 133 (training/tools/masked_detection.ts); face-api's landmark net aligns
// the recognizers' crops better than faceplugin's own on turned and bowed heads.
import type { FacepluginBoxDetector, ScoredBox } from './faceplugin-rfb.ts';
import { photoCanvas } from './faceplugin-rfb.ts';
import type { Detector } from '../models/types.ts';
import type { Box, DetectedFace, Point, RgbImage } from '../types.ts';

/** At most this many faces an image. */
export const MAX_FACES = 50;

/** Landmarks of several faces of one image in one run. */
export interface BatchLandmarker {
  readonly id: string;
  locateMany(image: RgbImage, boxes: Box[]): Promise<Point[][]>;
}

export interface FaceDetectorOptions {
  minConfidence: number;
  /**
   * 0: the image as it is (camera frames). Above 0: a photo, detected on a 4:3 grey canvas with this
   * share of its longer side around it, so that a face filling the photo is found.
   */
  canvasMargin?: number;
}

export class FaceDetector implements Detector {
  readonly id: string;

  constructor(
    private readonly boxes: FacepluginBoxDetector,
    private readonly landmarks: BatchLandmarker,
    private readonly options: FaceDetectorOptions,
  ) {
    this.id = `${boxes.id}+${landmarks.id}${options.canvasMargin ? `@canvas${options.canvasMargin}` : ''}`;
  }

  /** The same models with other settings (the enrollment detector of a camera detector). */
  with(options: FaceDetectorOptions): FaceDetector {
    return new FaceDetector(this.boxes, this.landmarks, options);
  }

  async detect(image: RgbImage): Promise<DetectedFace[]> {
    const { minConfidence, canvasMargin = 0 } = this.options;
    const region = canvasMargin > 0 ? photoCanvas(image.width, image.height, canvasMargin) : undefined;
    const found = (await this.boxes.boxes(image, minConfidence, region)).filter((f) => overlapsImage(f, image)).slice(0, MAX_FACES);
    if (!found.length) return [];
    const points = await this.landmarks.locateMany(image, found.map((f) => f.box));
    return found.map((f, i) => ({ box: f.box, score: f.score, landmarks: points[i] }));
  }
}

/** A box the landmark net can look into: at least a pixel of it inside the image. */
function overlapsImage({ box }: ScoredBox, image: RgbImage): boolean {
  return box.x < image.width - 1 && box.y < image.height - 1 && box.x + box.width > 1 && box.y + box.height > 1;
}
