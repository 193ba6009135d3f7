// The base of the project's own ONNX models (the ID-GAN generator, the occlusion segmenter): load the
// file on the chosen execution provider, check that its tensors are the contract the code was written
// for, pack crops as planar tensors and run batches. Every failure is a ModelError that says what to do.
import type { InferenceSession } from 'onnxruntime-node';
import type { RgbImage } from '../types.ts';
import { openOnnxSession } from './onnx-session.ts';
import type { ExecutionProvider, ProviderChoice, ProviderFallback } from './providers.ts';
import { fromOrt, toOrt, type Feeds } from './runner.ts';

/** A model file is missing, unreadable, not the model expected, or fails to run: the message says which and what to do. */
export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}

/** A tensor of the contract: N×channels×size×size float32, N free (or fixed at 1: a model of one face at a time). */
export interface TensorContract {
  name: string;
  channels: number;
}

export interface ModelContract {
  /** What the model is, for messages ("inpainting model"). */
  what: string;
  /** How to make one when there is none. */
  howToGet: string;
  /** How to make the file right when it is there but wrong. */
  reexport: string;
  /** Side of the square crops. */
  size: number;
  inputs: readonly TensorContract[];
  outputs: readonly TensorContract[];
}

export interface OnnxModelOptions {
  /** Faces per run of the network: larger batches amortise the per-run overhead, at the cost of memory. */
  batchSize?: number;
  /** CPU threads of the session; 0 lets onnxruntime use one per core. */
  threads?: number;
  /** Execution provider (default 'cpu'); a GPU one that cannot start gives a CPU session unless `fallback` is false. */
  provider?: ProviderChoice;
  fallback?: boolean;
}

export interface LoadedModel {
  session: InferenceSession;
  version: string;
  batchSize: number;
  /** The graph takes one face per run (its batch is fixed at 1): batches are run face by face. */
  oneFaceAtATime: boolean;
  provider: ExecutionProvider;
  fallbacks: ProviderFallback[];
}

/** Opens `path` and checks it against the contract; the session is released when the check fails. */
export async function loadOnnxModel(path: string, contract: ModelContract, options: OnnxModelOptions, defaults: { batchSize: number; threads: number }): Promise<LoadedModel> {
  const batchSize = options.batchSize ?? defaults.batchSize;
  const threads = options.threads ?? defaults.threads;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`batchSize must be a whole number, 1 or more, got ${batchSize}`);
  if (!(Number.isInteger(threads) && threads >= 0)) throw new RangeError(`threads must be a whole number, 0 or more, got ${threads}`);
  const opened = await openOnnxSession(path, { threads, provider: options.provider, fallback: options.fallback }, {
    what: contract.what,
    howToGet: contract.howToGet,
    error: (m) => new ModelError(m),
  });
  let oneFaceAtATime: boolean;
  try {
    oneFaceAtATime = checkContract(opened.session, path, contract) === 'one-face';
  } catch (err) {
    await opened.session.release();
    throw err;
  }
  return { ...opened, batchSize: oneFaceAtATime ? 1 : batchSize, oneFaceAtATime };
}

/**
 * Throws unless every input and output of the contract is there: C×size×size float32, the batch free
 * ('batch') or fixed at 1 in every tensor ('one-face': a graph whose work differs per face, such as
 * the face prior's, which picks the basis columns of each face's own hole).
 */
export function checkContract(session: InferenceSession, path: string, contract: ModelContract): 'batch' | 'one-face' {
  const batches: (number | string)[] = [];
  const check = (meta: InferenceSession.ValueMetadata | undefined, role: string, { name, channels }: TensorContract) => {
    if (!meta) {
      const names = (role === 'input' ? session.inputNames : session.outputNames).join(', ') || 'none';
      throw new ModelError(`${path} has no ${role} "${name}" (its ${role}s: ${names}): it is not the ${contract.what}; ${contract.reexport}`);
    }
    const expected = `[batch, ${channels}, ${contract.size}, ${contract.size}] float32`;
    if (!meta.isTensor) throw new ModelError(`${path}: ${role} "${name}" is not a tensor, expected ${expected}; ${contract.reexport}`);
    const shape = meta.shape;
    const sizeOk = shape.length === 4 && shape[1] === channels && shape[2] === contract.size && shape[3] === contract.size;
    if (!sizeOk || meta.type !== 'float32')
      throw new ModelError(`${path}: ${role} "${name}" is [${shape.join(', ')}] ${meta.type}, expected ${expected} (the ${contract.size}×${contract.size} inpainting space); ${contract.reexport}`);
    if (typeof shape[0] === 'number' && shape[0] !== 1)
      throw new ModelError(`${path}: ${role} "${name}" has a fixed batch of ${shape[0]}, the service needs a free batch dimension (or one face a run); ${contract.reexport}`);
    batches.push(shape[0]);
  };
  for (const input of contract.inputs) check(session.inputMetadata.find((m) => m.name === input.name), 'input', input);
  for (const output of contract.outputs) check(session.outputMetadata.find((m) => m.name === output.name), 'output', output);
  const fixed = batches.filter((b) => b === 1).length;
  if (fixed > 0 && fixed < batches.length)
    throw new ModelError(`${path}: some tensors have a free batch and others a batch of 1; ${contract.reexport}`);
  return fixed > 0 ? 'one-face' : 'batch';
}

/** A model of the contract, loaded: runs batches of tensors laid out as it takes them. */
export abstract class OnnxModel {
  readonly version: string;
  /** The provider the session runs on, and the ones that did not start before it. */
  readonly provider: ExecutionProvider;
  readonly fallbacks: ProviderFallback[];
  protected readonly batchSize: number;
  private readonly oneFaceAtATime: boolean;
  private readonly session: InferenceSession;

  protected constructor(
    loaded: LoadedModel,
    protected readonly contract: ModelContract,
  ) {
    this.session = loaded.session;
    this.version = loaded.version;
    this.provider = loaded.provider;
    this.fallbacks = loaded.fallbacks;
    this.batchSize = loaded.batchSize;
    this.oneFaceAtATime = loaded.oneFaceAtATime;
  }

  get size(): number {
    return this.contract.size;
  }

  /** Tensors of `count` faces in, every output of the contract out: one run, or one per face for a one-face graph. */
  async runTensors(inputs: Record<string, Float32Array>, count: number): Promise<Record<string, Float32Array>> {
    const plane = this.size * this.size;
    for (const { name, channels } of this.contract.inputs) {
      const data = inputs[name];
      if (!data || data.length !== count * channels * plane)
        throw new RangeError(`input "${name}" for ${count} faces needs ${count * channels * plane} values, got ${data?.length ?? 'none'}`);
    }
    if (!this.oneFaceAtATime || count === 1) return this.run(inputs, count);
    const outputs = Object.fromEntries(this.contract.outputs.map(({ name, channels }) => [name, new Float32Array(count * channels * plane)]));
    for (let n = 0; n < count; n++) {
      const face = Object.fromEntries(this.contract.inputs.map(({ name, channels }) => [name, inputs[name].subarray(n * channels * plane, (n + 1) * channels * plane)]));
      const result = await this.run(face, 1);
      for (const { name, channels } of this.contract.outputs) outputs[name].set(result[name], n * channels * plane);
    }
    return outputs;
  }

  private async run(inputs: Record<string, Float32Array>, count: number): Promise<Record<string, Float32Array>> {
    const feeds: Feeds = {};
    for (const { name, channels } of this.contract.inputs) feeds[name] = { data: inputs[name], dims: [count, channels, this.size, this.size] };
    const results = fromOrt(await this.session.run(toOrt(feeds)));
    return Object.fromEntries(this.contract.outputs.map(({ name }) => [name, results[name].data]));
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Planar RGB byte / 255 of `size`×`size` crops, one after the other (N×3×size×size), written into
 * `out` from face `offset`; crops of another size are refused, naming `what` takes them.
 */
export function planarRgb(crops: readonly RgbImage[], size: number, what: string, out = new Float32Array(crops.length * 3 * size * size)): Float32Array {
  const plane = size * size;
  crops.forEach((crop, n) => {
    if (crop.width !== size || crop.height !== size || crop.data.length !== plane * 3)
      throw new RangeError(`crop ${n} is ${crop.width}×${crop.height} (${crop.data.length} bytes), the ${what} takes ${size}×${size} RGB crops`);
    const base = n * 3 * plane;
    for (let p = 0; p < plane; p++) {
      out[base + p] = crop.data[p * 3] / 255;
      out[base + plane + p] = crop.data[p * 3 + 1] / 255;
      out[base + 2 * plane + p] = crop.data[p * 3 + 2] / 255;
    }
  });
  return out;
}
