// face-api's FaceRecognitionNet (a port of dlib's ResNet-29) ported to ONNX (models/faceapi/recognizer.onnx,
// made by training/ports/faceapi_to_onnx.py from training/idgan/recognizer.py), on onnxruntime-node:
// 128-D descriptors of 150×150 dlib chips (FACEAPI_RECOGNIZER_TEMPLATE), as face-api's
// computeFaceDescriptor gives them (test/integration/faceapi-onnx.test.ts). The graph takes raw RGB
// 0–255, NCHW, and subtracts face-api's mean RGB and divides by 255 itself.
import { FACEAPI_RECOGNIZER_TEMPLATE } from '../align/templates.ts';
import type { RgbImage } from '../types.ts';
import { openRunner, singleIo, type OnnxRunner } from '../models/runner.ts';
import type { Closable, Recognizer } from '../models/types.ts';
import { faceApiModel, faceApiModelPath } from '../models/faceapi-files.ts';

/** Faces per run: bounds the tensor a burst of faces makes (150×150×3 floats each). */
const MAX_BATCH = 32;

/** The chip's RGB bytes as the graph takes them: planar (CHW) floats, 0–255, written into `out` at `offset`. */
export function recognizerInput(chip: RgbImage, out = new Float32Array(3 * chip.width * chip.height), offset = 0): Float32Array {
  const plane = chip.width * chip.height;
  const { data } = chip;
  for (let i = 0; i < plane; i++) {
    out[offset + i] = data[3 * i];
    out[offset + plane + i] = data[3 * i + 1];
    out[offset + 2 * plane + i] = data[3 * i + 2];
  }
  return out;
}

export class FaceApiOnnxRecognizer implements Recognizer, Closable {
  readonly id = 'faceapi-frnet';
  readonly dims = 128;
  readonly template = FACEAPI_RECOGNIZER_TEMPLATE;
  /** The ONNX file's content hash and the template: embeddings of another version are re-computed. */
  readonly version: string;
  private readonly io: { input: string; output: string };

  constructor(private readonly runner: OnnxRunner) {
    this.version = `${runner.version}-${FACEAPI_RECOGNIZER_TEMPLATE.name}`;
    this.io = singleIo(runner, "face-api's recognizer");
  }

  /** The model in this thread (the service runs it in its model pool instead). */
  static async load(path = faceApiModelPath('recognizer')): Promise<FaceApiOnnxRecognizer> {
    const spec = faceApiModel('recognizer', path);
    return new FaceApiOnnxRecognizer(await openRunner(spec.path, spec.options, { what: spec.what, howToGet: spec.howToGet, error: (m) => new Error(m) }));
  }

  /** One descriptor a crop, all crops in one run (up to 32 a run). */
  async embed(crops: RgbImage[]): Promise<Float32Array[]> {
    const size = this.template.size;
    const plane = 3 * size * size;
    for (const crop of crops)
      if (crop.width !== size || crop.height !== size) throw new Error(`recognizer crop must be ${size}×${size}, got ${crop.width}×${crop.height}`);
    const out: Float32Array[] = [];
    for (let start = 0; start < crops.length; start += MAX_BATCH) {
      const batch = crops.slice(start, start + MAX_BATCH);
      const input = new Float32Array(batch.length * plane);
      batch.forEach((crop, i) => recognizerInput(crop, input, i * plane));
      const result = await this.runner.run({ [this.io.input]: { data: input, dims: [batch.length, 3, size, size] } });
      const data = result[this.io.output].data;
      if (data.length !== batch.length * this.dims) throw new Error(`the recognizer gave ${data.length} values for ${batch.length} faces`);
      for (let i = 0; i < batch.length; i++) out.push(data.slice(i * this.dims, (i + 1) * this.dims));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.runner.close();
  }
}
