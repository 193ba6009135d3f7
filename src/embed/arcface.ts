// The 512-D ArcFace-style recognizer of npm `faceplugin-face-recognition-js` 0.0.1
// (model/fr_feature.onnx, a ~5 MB mobile network), run with onnxruntime-node on ARCFACE_TEMPLATE
// chips. Its input, as the package's preprocessFeature makes it: RGB, (v − 127) / 128, NCHW. The
// package warps with an affine fit of three points; here all five are fitted by a similarity
// (InsightFace's own practice for this template), which keeps the face's aspect.
//
// The service's main recognizer (recognize.model: arcface) and the upper-face view of faces whose
// lower half is covered (upper-face.ts). The vendored graph takes a free batch (models/faceplugin/PROVENANCE.md).
import { ARCFACE_TEMPLATE } from '../align/templates.ts';
import type { RgbImage } from '../types.ts';
import { singleIo, type OnnxRunner } from '../models/runner.ts';
import type { Closable, Recognizer } from '../models/types.ts';
import { openFacepluginModel } from '../models/faceplugin-files.ts';

/** Faces per run: bounds the tensor a burst of faces makes (112×112×3 floats each). */
const MAX_BATCH = 32;

/** (v − 127) / 128 per RGB channel, planar (NCHW). */
export function arcFaceInput(chip: RgbImage): Float32Array {
  const plane = chip.width * chip.height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[c * plane + i] = (chip.data[i * 3 + c] - 127) / 128;
  return out;
}

export class ArcFaceRecognizer implements Recognizer, Closable {
  readonly id = 'faceplugin-arcface';
  readonly dims = 512;
  readonly template = ARCFACE_TEMPLATE;
  readonly version: string;
  private readonly io: { input: string; output: string };

  constructor(private readonly runner: OnnxRunner) {
    this.version = `${runner.version}-${ARCFACE_TEMPLATE.name}`;
    this.io = singleIo(runner, 'ArcFace recognizer');
  }

  /** The model in this thread (the service runs it in its model pool instead). */
  static async load(path?: string): Promise<ArcFaceRecognizer> {
    return new ArcFaceRecognizer(await openFacepluginModel('fr_feature', path));
  }

  async embed(crops: RgbImage[]): Promise<Float32Array[]> {
    const size = this.template.size;
    const plane = 3 * size * size;
    for (const crop of crops)
      if (crop.width !== size || crop.height !== size) throw new Error(`recognizer crop must be ${size}×${size}, got ${crop.width}×${crop.height}`);
    const out: Float32Array[] = [];
    for (let start = 0; start < crops.length; start += MAX_BATCH) {
      const batch = crops.slice(start, start + MAX_BATCH);
      const input = new Float32Array(batch.length * plane);
      batch.forEach((crop, i) => input.set(arcFaceInput(crop), i * plane));
      const result = await this.runner.run({ [this.io.input]: { data: input, dims: [batch.length, 3, size, size] } });
      const data = result[this.io.output].data;
      for (let i = 0; i < batch.length; i++) out.push(data.slice(i * this.dims, (i + 1) * this.dims));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.runner.close();
  }
}
