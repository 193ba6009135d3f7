// The third-party models the service runs, vendored in models/ with their licences and provenance:
// models/faceplugin/ (npm faceplugin-face-recognition-js 0.0.1, MIT) and models/faceapi/ (face-api
// 1.7.15's nets ported to ONNX by training/ports/, MIT). Each folder's PROVENANCE.md has the sha256
// of every file and how it was made.
import { fileURLToPath } from 'node:url';
import type { PooledModel } from './pool.ts';
import { openRunner, type OnnxRunner } from './runner.ts';

export type VendoredModel = 'detector' | 'landmarks' | 'mask-landmarks' | 'arcface' | 'faceapi-recognizer';

const MODELS_DIR = fileURLToPath(new URL('../../models/', import.meta.url));

/**
 * Graph optimisation: 'all' adds onnxruntime's NCHWc layout rewrite, which speeds up every model here
 * but faceplugin's PRelu recognizer, three times slower with it (training/ports/faceapi_bench.ts and
 * the README's "Recognizers" say by how much).
 */
const MODELS: Record<VendoredModel, { file: string; what: string; optimization: 'extended' | 'all'; remake: string }> = {
  detector: { file: 'faceplugin/fr_detect.onnx', what: 'face detector', optimization: 'all', remake: 'training/ports/vendor_faceplugin.py' },
  'mask-landmarks': { file: 'faceplugin/fr_landmark.onnx', what: 'landmark model', optimization: 'all', remake: 'training/ports/vendor_faceplugin.py' },
  arcface: { file: 'faceplugin/fr_feature.onnx', what: 'ArcFace recognizer', optimization: 'extended', remake: 'training/ports/vendor_faceplugin.py' },
  landmarks: { file: 'faceapi/landmark68.onnx', what: "face-api's landmark model", optimization: 'all', remake: 'training/ports/faceapi_to_onnx.py' },
  'faceapi-recognizer': { file: 'faceapi/recognizer.onnx', what: "face-api's recognizer", optimization: 'all', remake: 'training/ports/faceapi_to_onnx.py' },
};

export function vendoredModelPath(name: VendoredModel): string {
  return MODELS_DIR + MODELS[name].file;
}

/** How a vendored model is opened: one CPU thread a session (a pool gives one per core). */
export function vendoredModel(name: VendoredModel, path = vendoredModelPath(name)): PooledModel {
  const { what, optimization, remake } = MODELS[name];
  return {
    name,
    path,
    what,
    howToGet: `it is part of the repository (models/${MODELS[name].file}): restore it with git checkout, or remake it with /usr/bin/python3 ${remake}`,
    options: { threads: 1, optimization },
  };
}

/** A vendored model in this thread. */
export function openVendoredModel(name: VendoredModel, path?: string): Promise<OnnxRunner> {
  const spec = vendoredModel(name, path);
  return openRunner(spec.path, spec.options, { what: spec.what, howToGet: spec.howToGet, error: (m) => new Error(m) });
}
