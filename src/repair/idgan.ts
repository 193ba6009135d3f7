// The ID-GAN generator exported by training/export_onnx.py, run by onnxruntime-node on the CPU.
//
// The model's contract (training/export_onnx.py writes it, this file checks it at load):
//   image      float32 N×3×128×128  RGB, byte / 255 (0…1), the crop aligned with INPAINT_TEMPLATE;
//                                   what the hole holds does not matter (the generator fills it white)
//   mask       float32 N×1×128×128  1 inside the hole, 0 on known pixels
//   inpainted  float32 N×3×128×128  0…1, composited: known pixels are the input's own
import { openOnnxSession } from '../models/onnx-session.ts';
import type { ExecutionProvider, ProviderChoice, ProviderFallback } from '../models/providers.ts';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { INPAINT_TEMPLATE } from '../align/templates.ts';
import type { RgbImage } from '../types.ts';
import type { Inpainter } from './inpainter-types.ts';

export const DEFAULT_INPAINT_MODEL = 'models/idgan-inpaint.onnx';

/** Side of the crops the generator takes: the inpainting space. */
export const INPAINT_SIZE = INPAINT_TEMPLATE.size;

/** How to make a model when there is none: the message of every "missing model" error. */
export const HOW_TO_GET_A_MODEL =
  'train the generator (training/README.md) and export it with ' +
  '`/usr/bin/python3 training/export_onnx.py --checkpoint var/runs/wid/generator-best.pt --out models/idgan-inpaint.onnx`';

/** The model file is missing, unreadable or not the generator this code was written for. */
export class InpaintModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InpaintModelError';
  }
}

export interface OnnxInpainterOptions {
  /** Faces per run of the network: larger batches amortise the per-run overhead, at the cost of memory. */
  batchSize?: number;
  /** CPU threads of the session; 0 lets onnxruntime use one per core. */
  threads?: number;
  /** Execution provider (default 'cpu'); a GPU one that cannot start gives a CPU session unless `fallback` is false. */
  provider?: ProviderChoice;
  fallback?: boolean;
}

/** Name, channels of each input and output the generator must have (batch first, then C×128×128). */
const EXPECTED_INPUTS = [
  { name: 'image', channels: 3 },
  { name: 'mask', channels: 1 },
] as const;
const EXPECTED_OUTPUT = { name: 'inpainted', channels: 3 } as const;

export class OnnxInpainter implements Inpainter {
  readonly id = 'idgan-onnx';
  readonly size = INPAINT_SIZE;

  private constructor(
    private readonly session: InferenceSession,
    readonly version: string,
    private readonly batchSize: number,
    /** The provider the session runs on, and the ones that did not start before it. */
    readonly provider: ExecutionProvider,
    readonly fallbacks: ProviderFallback[],
  ) {}

  /** Loads the model and checks that its inputs and output are the generator's; errors say what to do. */
  static async load(path: string, options: OnnxInpainterOptions = {}): Promise<OnnxInpainter> {
    const batchSize = options.batchSize ?? 16;
    const threads = options.threads ?? 0;
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`batchSize must be a whole number, 1 or more, got ${batchSize}`);
    if (!(Number.isInteger(threads) && threads >= 0)) throw new RangeError(`threads must be a whole number, 0 or more, got ${threads}`);
    const { session, version, provider, fallbacks } = await openOnnxSession(path, { threads, provider: options.provider, fallback: options.fallback }, { what: 'inpainting model', howToGet: HOW_TO_GET_A_MODEL, error: (m) => new InpaintModelError(m) });
    try {
      checkSignature(session, path);
    } catch (err) {
      await session.release();
      throw err;
    }
    return new OnnxInpainter(session, version, batchSize, provider, fallbacks);
  }

  async inpaint(crops: RgbImage[], masks: Uint8Array[]): Promise<RgbImage[]> {
    if (crops.length !== masks.length) throw new RangeError(`${crops.length} crops but ${masks.length} masks: one mask per crop`);
    const out: RgbImage[] = [];
    for (let start = 0; start < crops.length; start += this.batchSize) {
      const batch = crops.slice(start, start + this.batchSize);
      const { image, mask } = toInputTensors(batch, masks.slice(start, start + this.batchSize), this.size);
      out.push(...fromOutputTensor(await this.run(image, mask, batch.length), batch.length, this.size));
    }
    return out;
  }

  /** One run of the network on tensors already laid out as the model takes them (N×3×S×S and N×1×S×S). */
  async run(image: Float32Array, mask: Float32Array, count: number): Promise<Float32Array> {
    const plane = this.size * this.size;
    if (image.length !== count * 3 * plane || mask.length !== count * plane)
      throw new RangeError(`tensors for ${count} faces need ${count * 3 * plane} image and ${count * plane} mask values, got ${image.length} and ${mask.length}`);
    const results = await this.session.run({
      image: new Tensor('float32', image, [count, 3, this.size, this.size]),
      mask: new Tensor('float32', mask, [count, 1, this.size, this.size]),
    });
    return results[EXPECTED_OUTPUT.name].data as Float32Array;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** Throws unless the session has the generator's inputs and output: batch free, C×128×128 float32. */
function checkSignature(session: InferenceSession, path: string): void {
  const reexport = `re-export it with training/export_onnx.py`;
  const check = (meta: InferenceSession.ValueMetadata | undefined, role: string, name: string, channels: number) => {
    if (!meta) {
      const names = (role === 'input' ? session.inputNames : session.outputNames).join(', ') || 'none';
      throw new InpaintModelError(`${path} has no ${role} "${name}" (its ${role}s: ${names}): it is not the ID-GAN generator; ${reexport}`);
    }
    const expected = `[batch, ${channels}, ${INPAINT_SIZE}, ${INPAINT_SIZE}] float32`;
    if (!meta.isTensor) throw new InpaintModelError(`${path}: ${role} "${name}" is not a tensor, expected ${expected}; ${reexport}`);
    const shape = meta.shape;
    const shown = `[${shape.join(', ')}] ${meta.type}`;
    const sizeOk = shape.length === 4 && shape[1] === channels && shape[2] === INPAINT_SIZE && shape[3] === INPAINT_SIZE;
    if (!sizeOk || meta.type !== 'float32')
      throw new InpaintModelError(`${path}: ${role} "${name}" is ${shown}, expected ${expected} (the ${INPAINT_SIZE}×${INPAINT_SIZE} inpainting space); ${reexport}`);
    if (typeof shape[0] === 'number')
      throw new InpaintModelError(`${path}: ${role} "${name}" has a fixed batch of ${shape[0]}, the service needs a free batch dimension; ${reexport}`);
  };
  for (const { name, channels } of EXPECTED_INPUTS)
    check(session.inputMetadata.find((m) => m.name === name), 'input', name, channels);
  check(session.outputMetadata.find((m) => m.name === EXPECTED_OUTPUT.name), 'output', EXPECTED_OUTPUT.name, EXPECTED_OUTPUT.channels);
}

/**
 * The network's input tensors for a batch: image as planar RGB byte / 255, mask as 0/1. Refuses
 * crops of another size and masks that are not one 0-or-1 byte per pixel.
 */
export function toInputTensors(crops: readonly RgbImage[], masks: readonly Uint8Array[], size: number): { image: Float32Array; mask: Float32Array } {
  if (crops.length !== masks.length) throw new RangeError(`${crops.length} crops but ${masks.length} masks: one mask per crop`);
  const plane = size * size;
  const image = new Float32Array(crops.length * 3 * plane);
  const mask = new Float32Array(crops.length * plane);
  crops.forEach((crop, n) => {
    if (crop.width !== size || crop.height !== size || crop.data.length !== plane * 3)
      throw new RangeError(`crop ${n} is ${crop.width}×${crop.height} (${crop.data.length} bytes), the inpainter takes ${size}×${size} RGB crops`);
    const hole = masks[n];
    if (hole.length !== plane) throw new RangeError(`mask ${n} has ${hole.length} values, expected ${plane} (one per pixel of a ${size}×${size} crop)`);
    const base = n * 3 * plane;
    for (let p = 0; p < plane; p++) {
      const m = hole[p];
      if (m > 1) throw new RangeError(`mask ${n} holds ${m} at pixel ${p}: masks are 1 inside the hole and 0 elsewhere`);
      mask[n * plane + p] = m;
      image[base + p] = crop.data[p * 3] / 255;
      image[base + plane + p] = crop.data[p * 3 + 1] / 255;
      image[base + 2 * plane + p] = crop.data[p * 3 + 2] / 255;
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
