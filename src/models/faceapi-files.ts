// face-api's landmark and recognition nets, ported to ONNX (training/ports/), in models/faceapi/
// with face-api's MIT licence (PROVENANCE.md: the source weights and how the files were made).
import { fileURLToPath } from 'node:url';
import type { PooledModel } from './pool.ts';

export type FaceApiModel = 'landmark68' | 'recognizer';

const MODEL_DIR = fileURLToPath(new URL('../../models/faceapi/', import.meta.url));

const FILES: Record<FaceApiModel, { file: string; what: string }> = {
  landmark68: { file: 'landmark68.onnx', what: "face-api's landmark model" },
  recognizer: { file: 'recognizer.onnx', what: "face-api's recognizer" },
};

export function faceApiModelPath(name: FaceApiModel): string {
  return MODEL_DIR + FILES[name].file;
}

/**
 * How a port is opened: one CPU thread, graph optimisation 'all' — unlike faceplugin's PRelu
 * recognizer, both nets run faster with its NCHWc rewrite (per face, p50, here: landmark net 5.5
 * against 10 ms at batch 8, recognizer 16 against 27 ms at batch 1; training/ports/faceapi_bench.ts).
 */
export function faceApiModel(name: FaceApiModel, path = faceApiModelPath(name)): PooledModel {
  return {
    name,
    path,
    what: FILES[name].what,
    howToGet: 'it is part of the repository (models/faceapi/); remake it with /usr/bin/python3 training/ports/faceapi_to_onnx.py',
    options: { threads: 1, optimization: 'all' },
  };
}
