// The small interfaces every model wrapper implements, so that models can be swapped (and faked in tests).
import type { Box, DetectedFace, Point, RgbImage } from '../types.ts';
import type { CropTemplate } from '../align/templates.ts';

export interface Detector {
  /** Stable name of the model, e.g. "faceapi-ssd". */
  readonly id: string;
  /** Faces in the image, with 68 landmarks each, best first. */
  detect(image: RgbImage): Promise<DetectedFace[]>;
}

/** A second opinion on where a detected face's landmarks are (e.g. one that copes with masks). */
export interface Landmarker {
  /** Stable name of the model, e.g. "faceplugin-landmark68". */
  readonly id: string;
  /** The face's 68 landmarks (dlib order) in the image's pixels, located inside the detector's `box`. */
  locate(image: RgbImage, box: Box): Promise<Point[]>;
}

export interface Recognizer {
  /** Stable name of the model, e.g. "faceapi-frnet". */
  readonly id: string;
  /** Changes whenever the weights change: stored embeddings of another version are re-computed. */
  readonly version: string;
  readonly dims: number;
  /** The alignment this model was trained on: where the landmarks must land in its input crop. */
  readonly template: CropTemplate;
  /** One embedding per crop (each crop warped with `template`). Not normalised. */
  embed(crops: RgbImage[]): Promise<Float32Array[]>;
}

/** Frees the model's runtime (worker threads, sessions). */
export interface Closable {
  close(): Promise<void>;
}

/** The occlusion segmenter. */
export interface OcclusionSegmenter {
  /** Stable name of the model, e.g. "occlusion-onnx". */
  readonly id: string;
  /** Changes whenever the weights change (a digest of the model file). */
  readonly version: string;
  /** Side of the square crops it takes: the inpainting space (INPAINT_TEMPLATE), 128. */
  readonly size: number;
  /**
   * Per pixel of each `size`×`size` crop aligned with INPAINT_TEMPLATE, the probability (0–1) that
   * something covers the face there; rows top to bottom.
   */
  segment(crops: RgbImage[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}

/** The inpainting model (the ID-GAN generator). */
export interface Inpainter {
  /** Stable name of the model, e.g. "idgan-onnx". */
  readonly id: string;
  /** Changes whenever the weights change (a digest of the model file). */
  readonly version: string;
  /** Side of the square crops it takes: the inpainting space (INPAINT_TEMPLATE), 128. */
  readonly size: number;
  /**
   * Fills the holes of `size`×`size` crops aligned with INPAINT_TEMPLATE. `masks[i]` has one byte
   * per pixel of `crops[i]`, rows top to bottom: 1 inside the hole, 0 on known pixels. Known
   * pixels come back as they went in.
   */
  inpaint(crops: RgbImage[], masks: Uint8Array[]): Promise<RgbImage[]>;
  close(): Promise<void>;
}
