// The ID-GAN generator exported by training/export_onnx.py, run by onnxruntime-node.
//
// The model's contract (training/export_onnx.py writes it, this file checks it at load):
//   image      float32 N×3×128×128  RGB, byte / 255 (0…1), the crop aligned with INPAINT_TEMPLATE;
//                                   what the hole holds does not matter (the generator fills it white)
//   mask       float32 N×1×128×128  1 inside the hole, 0 on known pixels
//   inpainted  float32 N×3×128×128  0…1, composited: known pixels are the input's own
import { INPAINT_TEMPLATE } from '../align/templates.ts';
import { loadOnnxModel, OnnxModel, planarRgb, type ModelContract, type OnnxModelOptions } from '../models/onnx-model.ts';
import type { Inpainter } from '../models/types.ts';
import type { RgbImage } from '../types.ts';

export const DEFAULT_INPAINT_MODEL = 'models/idgan-inpaint.onnx';

/** How to make a model when there is none: the message of every "missing model" error. */
export const HOW_TO_GET_A_MODEL =
  'train the generator (training/README.md) and export it with ' +
  '`/usr/bin/python3 training/export_onnx.py --checkpoint var/runs/wid/generator-best.pt --out models/idgan-inpaint.onnx`';

const CONTRACT: ModelContract = {
  what: 'inpainting model',
  howToGet: HOW_TO_GET_A_MODEL,
  reexport: 're-export it with training/export_onnx.py',
  size: INPAINT_TEMPLATE.size,
  inputs: [
    { name: 'image', channels: 3 },
    { name: 'mask', channels: 1 },
  ],
  outputs: [{ name: 'inpainted', channels: 3 }],
};

export class OnnxInpainter extends OnnxModel implements Inpainter {
  readonly id = 'idgan-onnx';

  /** Loads the model and checks that its inputs and output are the generator's; errors say what to do. */
  static async load(path: string, options: OnnxModelOptions = {}): Promise<OnnxInpainter> {
    return new OnnxInpainter(await loadOnnxModel(path, CONTRACT, options, { batchSize: 16, threads: 0 }), CONTRACT);
  }

  async inpaint(crops: RgbImage[], masks: Uint8Array[]): Promise<RgbImage[]> {
    if (crops.length !== masks.length) throw new RangeError(`${crops.length} crops but ${masks.length} masks: one mask per crop`);
    const out: RgbImage[] = [];
    for (let start = 0; start < crops.length; start += this.batchSize) {
      const batch = crops.slice(start, start + this.batchSize);
      const { image, mask } = toInputTensors(batch, masks.slice(start, start + this.batchSize), this.size);
      const { inpainted } = await this.runTensors({ image, mask }, batch.length);
      out.push(...fromOutputTensor(inpainted, batch.length, this.size));
    }
    return out;
  }
}

/**
 * The network's input tensors for a batch: image as planar RGB byte / 255, mask as 0/1. Refuses
 * crops of another size and masks that are not one 0-or-1 byte per pixel.
 */
export function toInputTensors(crops: readonly RgbImage[], masks: readonly Uint8Array[], size: number): { image: Float32Array; mask: Float32Array } {
  if (crops.length !== masks.length) throw new RangeError(`${crops.length} crops but ${masks.length} masks: one mask per crop`);
  const plane = size * size;
  const image = planarRgb(crops, size, 'inpainter');
  const mask = new Float32Array(crops.length * plane);
  masks.forEach((hole, n) => {
    if (hole.length !== plane) throw new RangeError(`mask ${n} has ${hole.length} values, expected ${plane} (one per pixel of a ${size}×${size} crop)`);
    for (let p = 0; p < plane; p++) {
      const m = hole[p];
      if (m > 1) throw new RangeError(`mask ${n} holds ${m} at pixel ${p}: masks are 1 inside the hole and 0 elsewhere`);
      mask[n * plane + p] = m;
    }
  });
  return { image, mask };
}

/** Planar 0…1 RGB (N×3×S×S) back to packed bytes, rounded and clamped. */
export function fromOutputTensor(data: Float32Array, count: number, size: number): RgbImage[] {
  const plane = size * size;
  if (data.length !== count * 3 * plane) throw new RangeError(`output has ${data.length} values, expected ${count * 3 * plane} for ${count} faces`);
  const toByte = (v: number) => (v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255));
  const out: RgbImage[] = [];
  for (let n = 0; n < count; n++) {
    const base = n * 3 * plane;
    const bytes = new Uint8Array(plane * 3);
    for (let p = 0; p < plane; p++) {
      bytes[p * 3] = toByte(data[base + p]);
      bytes[p * 3 + 1] = toByte(data[base + plane + p]);
      bytes[p * 3 + 2] = toByte(data[base + 2 * plane + p]);
    }
    out.push({ width: size, height: size, data: bytes });
  }
  return out;
}
