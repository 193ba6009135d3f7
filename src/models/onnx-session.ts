// Loading an ONNX model for onnxruntime-node on the CPU, shared by the model wrappers (inpainter,
// occlusion segmenter): read, create the session, and report each failure in words a user can act on.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { InferenceSession } from 'onnxruntime-node';

export interface OnnxModelFile {
  /** What the model is, for messages: "inpainting model", "occlusion model". */
  what: string;
  /** How to get one, appended to the message of a missing file. */
  howToGet: string;
  /** Builds the wrapper's own error type. */
  error: (message: string) => Error;
}

/** The session and a 16-hex digest of the file (the model's version). `threads` 0 = one per core. */
export async function openOnnxSession(path: string, threads: number, file: OnnxModelFile): Promise<{ session: InferenceSession; version: string }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw file.error(`no ${file.what} at ${path}: ${file.howToGet}, or pass another file`);
    throw file.error(`cannot read the ${file.what} ${path}: ${(err as Error).message}`);
  }
  try {
    const session = await InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      ...(threads ? { intraOpNumThreads: threads } : {}),
    });
    return { session, version: createHash('sha256').update(bytes).digest('hex').slice(0, 16) };
  } catch (err) {
    throw file.error(`${path} is not an ONNX model onnxruntime can load: ${(err as Error).message}`);
  }
}
