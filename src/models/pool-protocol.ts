// What the model pool (pool.ts) and its threads (pool-worker.ts) tell each other.
import type { OnnxSessionOptions } from './onnx-session.ts';
import type { Feeds } from './runner.ts';

/** A model every thread of the pool opens. */
export interface PooledModel {
  /** The name requests use, e.g. "recognizer". */
  name: string;
  path: string;
  /** What the model is, for messages ("face detector"). */
  what: string;
  /** How to get it when the file is missing. */
  howToGet: string;
  options: OnnxSessionOptions;
}

export interface ModelInfo {
  name: string;
  version: string;
  provider: string;
  fallbacks: { provider: string; reason: string }[];
  inputNames: string[];
  outputNames: string[];
}

export type PoolRequest = { id: number; op: 'run'; model: string; feeds: Feeds } | { id: number; op: 'close' };

export type PoolReply =
  | { kind: 'ready'; models: ModelInfo[] }
  | { kind: 'failed'; error: string }
  | { kind: 'result'; id: number; outputs: Feeds }
  | { kind: 'error'; id: number; error: string };
