// One ONNX model as the wrappers see it: float32 tensors in, float32 tensors out. A runner is either
// a session in this thread (openRunner) or the same model in every thread of an OnnxPool (pool.ts);
// the wrappers (detector, landmarks, recognizers) do not care which.
import { Tensor } from 'onnxruntime-node';
import { openOnnxSession, type OnnxModelFile, type OnnxSessionOptions } from './onnx-session.ts';
import type { ExecutionProvider, ProviderFallback } from './providers.ts';

/** A float32 tensor as plain data, so that it crosses a worker boundary (its buffer is transferred). */
export interface TensorData {
  data: Float32Array;
  dims: readonly number[];
}

export type Feeds = Record<string, TensorData>;

export interface OnnxRunner {
  /** A 16-hex digest of the model file: the model's version. */
  readonly version: string;
  readonly provider: ExecutionProvider;
  /** Providers tried before `provider`, and why each did not start. */
  readonly fallbacks: ProviderFallback[];
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Feeds): Promise<Feeds>;
  close(): Promise<void>;
}

/** A model opened in this thread. */
export async function openRunner(path: string, options: OnnxSessionOptions, file: OnnxModelFile): Promise<OnnxRunner> {
  const { session, version, provider, fallbacks } = await openOnnxSession(path, options, file);
  return {
    version,
    provider,
    fallbacks,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    run: async (feeds) => fromOrt(await session.run(toOrt(feeds))),
    close: () => session.release(),
  };
}

export function toOrt(feeds: Feeds): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) out[name] = new Tensor('float32', t.data, t.dims);
  return out;
}

export function fromOrt(results: Record<string, { data: unknown; dims: readonly number[]; type: string }>): Feeds {
  const out: Feeds = {};
  for (const [name, t] of Object.entries(results)) {
    if (t.type !== 'float32') throw new Error(`model output ${name} is ${t.type}, expected float32`);
    out[name] = { data: t.data as Float32Array, dims: [...t.dims] };
  }
  return out;
}

/** The one input and one output of a model that has exactly one of each; an error that names the file otherwise. */
export function singleIo(runner: OnnxRunner, what: string): { input: string; output: string } {
  if (runner.inputNames.length !== 1 || runner.outputNames.length !== 1)
    throw new Error(`the ${what} must have one input and one output, it has ${runner.inputNames.join(', ')} → ${runner.outputNames.join(', ')}`);
  return { input: runner.inputNames[0], output: runner.outputNames[0] };
}
