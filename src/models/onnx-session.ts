// Loading an ONNX model for onnxruntime-node, shared by the model wrappers (inpainter, occlusion
// segmenter): read, create the session on the chosen execution provider (CPU when a GPU one cannot
// start), and report each failure in words a user can act on.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { InferenceSession } from 'onnxruntime-node';
import { ProviderUnavailableError, providerUnavailable, resolveProvider, type ExecutionProvider, type ProviderChoice, type ProviderFallback } from './providers.ts';

export interface OnnxModelFile {
  /** What the model is, for messages: "inpainting model", "occlusion model". */
  what: string;
  /** How to get one, appended to the message of a missing file. */
  howToGet: string;
  /** Builds the wrapper's own error type. */
  error: (message: string) => Error;
}

export interface OnnxSessionOptions {
  /** CPU threads of the session; 0 = one per core. */
  threads: number;
  /** Default 'cpu'. */
  provider?: ProviderChoice;
  /** false: a GPU provider that cannot start is an error (ProviderUnavailableError), not a CPU session. */
  fallback?: boolean;
  /**
   * onnxruntime's graph optimisation level (default 'all'). 'extended' skips the NCHWc layout
   * rewrite, which makes the PRelu mobile nets (faceplugin's recognizer) three times slower here.
   */
  optimization?: 'basic' | 'extended' | 'all';
}

export interface OnnxSession {
  session: InferenceSession;
  /** A 16-hex digest of the file: the model's version. */
  version: string;
  /** The provider the session runs on. */
  provider: ExecutionProvider;
  /** Providers tried before it, and why each did not start: the caller logs them. */
  fallbacks: ProviderFallback[];
}

export async function openOnnxSession(path: string, options: OnnxSessionOptions, file: OnnxModelFile): Promise<OnnxSession> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw file.error(`no ${file.what} at ${path}: ${file.howToGet}, or pass another file`);
    throw file.error(`cannot read the ${file.what} ${path}: ${(err as Error).message}`);
  }
  const create = (provider: ExecutionProvider) =>
    InferenceSession.create(bytes, {
      executionProviders: [provider],
      graphOptimizationLevel: options.optimization ?? 'all',
      ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    });
  let resolved;
  try {
    resolved = await resolveProvider(options.provider ?? 'cpu', create, { unavailable: (p) => providerUnavailable(p), fallback: options.fallback });
  } catch (err) {
    if (err instanceof ProviderUnavailableError) throw err;
    throw file.error(`${path} is not an ONNX model onnxruntime can load: ${(err as Error).message}`);
  }
  return {
    session: resolved.value,
    version: createHash('sha256').update(bytes).digest('hex').slice(0, 16),
    provider: resolved.provider,
    fallbacks: resolved.fallbacks,
  };
}
