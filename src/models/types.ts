// The small interfaces every model wrapper implements, so that models can be swapped.
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
