// Loads face-api on TensorFlow.js's WASM backend, once per thread.
// Everything is required through one CommonJS `require` so that face-api, tfjs and the WASM backend
// share a single tfjs-core instance (an ESM import could load a second copy that has no backend).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { requireOptional } from '../optional.ts';

const require = createRequire(import.meta.url);

export type FaceApi = typeof import('@vladmandic/face-api');

export const FACEAPI_MODEL_DIR = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');

let loading: Promise<FaceApi> | undefined;

/** face-api with its WASM backend ready and the detector, landmark and recognition nets loaded. */
export function loadFaceApi(): Promise<FaceApi> {
  loading ??= (async () => {
    const tf = requireOptional<typeof import('@tensorflow/tfjs')>('@tensorflow/tfjs', "face-api on TensorFlow.js (the bench's peer loop, the parity references)");
    const wasm = requireOptional<{ setWasmPaths(path: string, fetch: boolean): void }>('@tensorflow/tfjs-backend-wasm', 'face-api on TensorFlow.js');
    const faceapi: FaceApi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
    // Local .wasm files, read from disk (false: not through fetch, which cannot read paths).
    wasm.setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/', false);
    await tf.setBackend('wasm');
    await tf.ready();
    if (tf.getBackend() !== 'wasm') throw new Error(`tfjs backend is ${tf.getBackend()}, expected wasm`);
    await Promise.all([
      faceapi.nets.ssdMobilenetv1.loadFromDisk(FACEAPI_MODEL_DIR),
      faceapi.nets.tinyFaceDetector.loadFromDisk(FACEAPI_MODEL_DIR),
      faceapi.nets.faceLandmark68Net.loadFromDisk(FACEAPI_MODEL_DIR),
      faceapi.nets.faceRecognitionNet.loadFromDisk(FACEAPI_MODEL_DIR),
    ]);
    return faceapi;
  })();
  return loading;
}

/** A short content hash of a model's weights: the model's version. */
export function weightsVersion(file: string): string {
  return createHash('sha256').update(readFileSync(join(FACEAPI_MODEL_DIR, file))).digest('hex').slice(0, 12);
}
