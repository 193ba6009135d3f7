// The inpainting model behind an interface, so that the ID-GAN generator can be swapped.
import type { RgbImage } from '../types.ts';

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
