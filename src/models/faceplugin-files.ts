// The models of npm `faceplugin-face-recognition-js` 0.0.1, vendored in models/faceplugin/ with the
// package's MIT licence (PROVENANCE.md: sha256 of each, and the one change made to the recognizer).
import { fileURLToPath } from 'node:url';
import type { PooledModel } from './pool.ts';
import { openRunner, type OnnxRunner } from './runner.ts';

export type FacepluginModel = 'fr_detect' | 'fr_feature' | 'fr_landmark';

const MODEL_DIR = fileURLToPath(new URL('../../models/faceplugin/', import.meta.url));

const WHAT: Record<FacepluginModel, string> = {
  fr_detect: 'face detector',
  fr_feature: 'ArcFace recognizer',
  fr_landmark: 'landmark model',
};

/** models/faceplugin/<name>.onnx, wherever the service is started from. */
export function facepluginModelPath(name: FacepluginModel): string {
  return `${MODEL_DIR}${name}.onnx`;
}

/**
 * How a faceplugin model is opened: one CPU thread per session (a pool gives one per core), and graph
 * optimisation 'extended' — 'all' adds the NCHWc layout rewrite, which made the recognizer 74 ms a face
 * here against 24 ms (the detector and landmark model are faster with it, so they keep it).
 */
export function facepluginModel(name: FacepluginModel, path = facepluginModelPath(name)): PooledModel {
  return {
    name,
    path,
    what: WHAT[name],
    howToGet: 'it is part of the repository (models/faceplugin/); restore it with git checkout',
    options: { threads: 1, optimization: name === 'fr_feature' ? 'extended' : 'all' },
  };
}

/** One faceplugin model in this thread. */
export function openFacepluginModel(name: FacepluginModel, path?: string): Promise<OnnxRunner> {
  const spec = facepluginModel(name, path);
  return openRunner(spec.path, spec.options, { what: spec.what, howToGet: spec.howToGet, error: (m) => new Error(m) });
}
