// The occlusion segmenter exported by training/occlusion/export_occlusion.py, run by onnxruntime-node.
//
// The model's contract (the export writes it, this file checks it at load):
//   image      float32 N×3×128×128  RGB, byte / 255 (0…1), the crop aligned with INPAINT_TEMPLATE
//   occlusion  float32 N×1×128×128  probability that the pixel is covered (0…1)
import { INPAINT_TEMPLATE } from '../align/templates.ts';
import { loadOnnxModel, OnnxModel, planarRgb, type ModelContract, type OnnxModelOptions } from '../models/onnx-model.ts';
import type { OcclusionSegmenter } from '../models/types.ts';
import type { RgbImage } from '../types.ts';

export const DEFAULT_OCCLUSION_MODEL = 'models/occlusion-seg.onnx';

export const HOW_TO_GET_A_SEGMENTER =
  'train it (training/occlusion/train_occlusion.py) and export it with ' +
  '`/usr/bin/python3 training/occlusion/export_occlusion.py --checkpoint var/runs/occlusion/best.pt --out models/occlusion-seg.onnx`';

const CONTRACT: ModelContract = {
  what: 'occlusion model',
  howToGet: HOW_TO_GET_A_SEGMENTER,
  reexport: 're-export it with training/occlusion/export_occlusion.py',
  size: INPAINT_TEMPLATE.size,
  inputs: [{ name: 'image', channels: 3 }],
  outputs: [{ name: 'occlusion', channels: 1 }],
};

export class OnnxOcclusionSegmenter extends OnnxModel implements OcclusionSegmenter {
  readonly id = 'occlusion-onnx';

  /** Loads the model and checks its input and output; errors say what is wrong and what to do. One thread is fastest for one face at a time. */
  static async load(path: string, options: OnnxModelOptions = {}): Promise<OnnxOcclusionSegmenter> {
    return new OnnxOcclusionSegmenter(await loadOnnxModel(path, CONTRACT, options, { batchSize: 16, threads: 1 }), CONTRACT);
  }

  async segment(crops: RgbImage[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    const plane = this.size * this.size;
    for (let start = 0; start < crops.length; start += this.batchSize) {
      const batch = crops.slice(start, start + this.batchSize);
      const { occlusion } = await this.runTensors({ image: planarRgb(batch, this.size, 'segmenter') }, batch.length);
      for (let n = 0; n < batch.length; n++) out.push(occlusion.slice(n * plane, (n + 1) * plane));
    }
    return out;
  }
}
