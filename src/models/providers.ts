// Which onnxruntime execution provider a model session runs on. onnxruntime-node names them 'cpu',
// 'cuda' and 'webgpu' (listSupportedBackends()); its Linux x64 build carries WebGPU (Dawn over Vulkan)
// in libonnxruntime itself, while CUDA needs libonnxruntime_providers_cuda.so, which only an install
// with ONNXRUNTIME_NODE_INSTALL=cuda12 fetches (and the CUDA 12 / cuDNN 9 libraries beside it).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EXECUTION_PROVIDERS, PROVIDER_CHOICES } from '../config.ts';

export { EXECUTION_PROVIDERS, PROVIDER_CHOICES };
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];
export type ProviderChoice = (typeof PROVIDER_CHOICES)[number];

/** A provider that was tried (or skipped) before the one in use, and why it is not the one. */
export interface ProviderFallback {
  provider: ExecutionProvider;
  reason: string;
}

export interface Resolved<T> {
  value: T;
  provider: ExecutionProvider;
  /** In the order tried; empty when the first candidate started. */
  fallbacks: ProviderFallback[];
}

/** The requested provider could not start and falling back was not allowed (the bench measures one provider). */
export class ProviderUnavailableError extends Error {
  constructor(
    readonly provider: ExecutionProvider,
    readonly reason: string,
  ) {
    super(`the ${provider} execution provider cannot start here: ${reason}`);
    this.name = 'ProviderUnavailableError';
  }
}

/** The order to try: auto = CUDA, then WebGPU, then CPU; an explicit GPU provider falls back to CPU. */
export function providerCandidates(choice: ProviderChoice): ExecutionProvider[] {
  if (choice === 'auto') return ['cuda', 'webgpu', 'cpu'];
  return choice === 'cpu' ? ['cpu'] : [choice, 'cpu'];
}

export interface ResolveOptions {
  /** Why a provider cannot be tried at all (its library is absent), or undefined when it can. */
  unavailable?: (provider: ExecutionProvider) => string | undefined;
  /** false: the first candidate or an error (ProviderUnavailableError when a CPU attempt would have followed). */
  fallback?: boolean;
}

/**
 * Opens with the first candidate of `choice` that starts. A GPU provider that fails is recorded with
 * its error and the next is tried; CPU is last, and its own error (a bad model file) is thrown as is.
 */
export async function resolveProvider<T>(
  choice: ProviderChoice,
  open: (provider: ExecutionProvider) => Promise<T>,
  options: ResolveOptions = {},
): Promise<Resolved<T>> {
  const fallbacks: ProviderFallback[] = [];
  const candidates = providerCandidates(choice);
  for (const provider of candidates) {
    const last = provider === 'cpu';
    const missing = last ? undefined : options.unavailable?.(provider);
    if (missing === undefined) {
      try {
        return { value: await open(provider), provider, fallbacks };
      } catch (err) {
        if (last) throw err;
        fallbacks.push({ provider, reason: firstLine((err as Error).message) });
      }
    } else {
      fallbacks.push({ provider, reason: missing });
    }
    if (options.fallback === false && choice !== 'auto') {
      const { reason } = fallbacks[fallbacks.length - 1];
      throw new ProviderUnavailableError(provider, reason);
    }
  }
  throw new Error('unreachable: cpu is always the last candidate');
}

/** onnxruntime's errors carry a source path and stack; the first line is what a log needs. */
function firstLine(message: string): string {
  return message.split('\n')[0].trim().slice(0, 600);
}

/** Folder of onnxruntime-node's native files for this platform (where the CUDA provider library must be). */
export function onnxruntimeBinDir(): string {
  const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
  return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/**
 * Why a provider cannot be tried here, before trying it: trying CUDA without its library makes
 * onnxruntime print an error to stderr on every session, which `auto` on a CPU machine must not do.
 */
export function providerUnavailable(provider: ExecutionProvider, binDir = onnxruntimeBinDir()): string | undefined {
  if (provider !== 'cuda') return undefined;
  const lib = join(binDir, 'libonnxruntime_providers_cuda.so');
  return existsSync(lib) ? undefined : `no ${lib} (install onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 to fetch it)`;
}
