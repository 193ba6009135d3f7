// The occlusion segmenter exported by training/occlusion/export_occlusion.py, run by onnxruntime-node.
//
// The model's contract (the export writes it, this file checks it at load):
//   image      float32 N×3×128×128  RGB, byte / 255 (0…1), the crop aligned with INPAINT_TEMPLATE
//   occlusion  float32 N×1×128×128  probability that the pixel is covered (0…1)
import { openOnnxSession } from '../models/onnx-session.ts';
import type { ExecutionProvider, ProviderChoice, ProviderFallback } from '../models/providers.ts';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { INPAINT_TEMPLATE } from '../align/templates.ts';
import type { RgbImage } from '../types.ts';
import type { OcclusionSegmenter } from './segmenter-types.ts';

export const DEFAULT_OCCLUSION_MODEL = 'models/occlusion-seg.onnx';
export const OCCLUSION_SIZE = INPAINT_TEMPLATE.size;

export const HOW_TO_GET_A_SEGMENTER =
  'train it (training/occlusion/train_occlusion.py) and export it with ' +
  '`/usr/bin/python3 training/occlusion/export_occlusion.py --checkpoint var/runs/occlusion/best.pt --out models/occlusion-seg.onnx`';

/** The model file is missing, unreadable or not the segmenter this code was written for. */
export class OcclusionModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OcclusionModelError';
  }
}

export interface OnnxOcclusionOptions {
  /** Faces per run of the network. */
  batchSize?: number;
  /** CPU threads of the session; 0 lets onnxruntime use one per core. One is fastest for one face at a time. */
  threads?: number;
  /** Execution provider (default 'cpu'); a GPU one that cannot start gives a CPU session unless `fallback` is false. */
  provider?: ProviderChoice;
  fallback?: boolean;
}

export class OnnxOcclusionSegmenter implements OcclusionSegmenter {
  readonly id = 'occlusion-onnx';
  readonly size = OCCLUSION_SIZE;

  private constructor(
    private readonly session: InferenceSession,
    readonly version: string,
    private readonly batchSize: number,
    /** The provider the session runs on, and the ones that did not start before it. */
    readonly provider: ExecutionProvider,
    readonly fallbacks: ProviderFallback[],
  ) {}

  /** Loads the model and checks its input and output; errors say what is wrong and what to do. */
  static async load(path: string, options: OnnxOcclusionOptions = {}): Promise<OnnxOcclusionSegmenter> {
    const batchSize = options.batchSize ?? 16;
    const threads = options.threads ?? 1;
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`batchSize must be a whole number, 1 or more, got ${batchSize}`);
    if (!(Number.isInteger(threads) && threads >= 0)) throw new RangeError(`threads must be a whole number, 0 or more, got ${threads}`);
    const { session, version, provider, fallbacks } = await openOnnxSession(path, { threads, provider: options.provider, fallback: options.fallback }, { what: 'occlusion model', howToGet: HOW_TO_GET_A_SEGMENTER, error: (m) => new OcclusionModelError(m) });
    try {
      checkSignature(session, path);
    } catch (err) {
      await session.release();
      throw err;
    }
    return new OnnxOcclusionSegmenter(session, version, batchSize, provider, fallbacks);
  }

  async segment(crops: RgbImage[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    const plane = this.size * this.size;
    for (let start = 0; start < crops.length; start += this.batchSize) {
      const batch = crops.slice(start, start + this.batchSize);
      const probabilities = await this.run(toImageTensor(batch, this.size), batch.length);
      for (let n = 0; n < batch.length; n++) out.push(probabilities.slice(n * plane, (n + 1) * plane));
    }
    return out;
  }

  /** One run of the network on a tensor already laid out as the model takes it (N×3×S×S); N×S×S out. */
  async run(image: Float32Array, count: number): Promise<Float32Array> {
    const plane = this.size * this.size;
    if (image.length !== count * 3 * plane) throw new RangeError(`a tensor for ${count} faces needs ${count * 3 * plane} values, got ${image.length}`);
    const results = await this.session.run({ image: new Tensor('float32', image, [count, 3, this.size, this.size]) });
    return results.occlusion.data as Float32Array;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

function checkSignature(session: InferenceSession, path: string): void {
  const reexport = 're-export it with training/occlusion/export_occlusion.py';
  const check = (meta: InferenceSession.ValueMetadata | undefined, role: string, name: string, channels: number) => {
    if (!meta) {
      const names = (role === 'input' ? session.inputNames : session.outputNames).join(', ') || 'none';
      throw new OcclusionModelError(`${path} has no ${role} "${name}" (its ${role}s: ${names}): it is not the occlusion segmenter; ${reexport}`);
    }
    const expected = `[batch, ${channels}, ${OCCLUSION_SIZE}, ${OCCLUSION_SIZE}] float32`;
    if (!meta.isTensor) throw new OcclusionModelError(`${path}: ${role} "${name}" is not a tensor, expected ${expected}; ${reexport}`);
    const shape = meta.shape;
    const sizeOk = shape.length === 4 && shape[1] === channels && shape[2] === OCCLUSION_SIZE && shape[3] === OCCLUSION_SIZE;
    if (!sizeOk || meta.type !== 'float32')
      throw new OcclusionModelError(`${path}: ${role} "${name}" is [${shape.join(', ')}] ${meta.type}, expected ${expected}; ${reexport}`);
    if (typeof shape[0] === 'number')
      throw new OcclusionModelError(`${path}: ${role} "${name}" has a fixed batch of ${shape[0]}, the service needs a free batch dimension; ${reexport}`);
  };
  check(session.inputMetadata.find((m) => m.name === 'image'), 'input', 'image', 3);
  check(session.outputMetadata.find((m) => m.name === 'occlusion'), 'output', 'occlusion', 1);
}

/** Planar RGB byte / 255 for a batch of `size`×`size` crops; other sizes are refused. */
export function toImageTensor(crops: readonly RgbImage[], size: number): Float32Array {
  const plane = size * size;
  const image = new Float32Array(crops.length * 3 * plane);
  crops.forEach((crop, n) => {
    if (crop.width !== size || crop.height !== size || crop.data.length !== plane * 3)
      throw new RangeError(`crop ${n} is ${crop.width}×${crop.height} (${crop.data.length} bytes), the segmenter takes ${size}×${size} RGB crops`);
    const base = n * 3 * plane;
    for (let p = 0; p < plane; p++) {
      image[base + p] = crop.data[p * 3] / 255;
      image[base + plane + p] = crop.data[p * 3 + 1] / 255;
      image[base + 2 * plane + p] = crop.data[p * 3 + 2] / 255;
    }
  });
  return image;
}
