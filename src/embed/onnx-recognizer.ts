// What the ONNX recognizers share: crops of their template's size packed as planar tensors (each
// model its own normalisation), run in batches of at most MAX_BATCH, one embedding out per crop.
import type { CropTemplate } from '../align/templates.ts';
import { singleIo, type OnnxRunner } from '../models/runner.ts';
import type { Closable, Recognizer } from '../models/types.ts';
import type { RgbImage } from '../types.ts';

/** Faces per run: bounds the tensor a burst of faces makes. */
const MAX_BATCH = 32;

export interface OnnxRecognizerSpec {
  id: string;
  dims: number;
  template: CropTemplate;
  /** What the model is, for messages. */
  what: string;
  /** Writes one chip's planar input (3×size×size) into `out` from `offset`. */
  pack(chip: RgbImage, out: Float32Array<ArrayBuffer>, offset: number): unknown;
}

export class OnnxRecognizer implements Recognizer, Closable {
  readonly id: string;
  readonly dims: number;
  readonly template: CropTemplate;
  /** The ONNX file's content hash and the template: embeddings of another version are re-computed. */
  readonly version: string;
  private readonly io: { input: string; output: string };

  constructor(
    private readonly runner: OnnxRunner,
    private readonly spec: OnnxRecognizerSpec,
  ) {
    this.id = spec.id;
    this.dims = spec.dims;
    this.template = spec.template;
    this.version = `${runner.version}-${spec.template.name}`;
    this.io = singleIo(runner, spec.what);
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
      batch.forEach((crop, i) => this.spec.pack(crop, input, i * plane));
      const result = await this.runner.run({ [this.io.input]: { data: input, dims: [batch.length, 3, size, size] } });
      const data = result[this.io.output].data;
      if (data.length !== batch.length * this.dims) throw new Error(`the ${this.spec.what} gave ${data.length} values for ${batch.length} faces`);
      for (let i = 0; i < batch.length; i++) out.push(data.slice(i * this.dims, (i + 1) * this.dims));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.runner.close();
  }
}
