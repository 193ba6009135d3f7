// The occlusion segmenter behind an interface, so that the model can be swapped (and faked in tests).
import type { RgbImage } from '../types.ts';

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
