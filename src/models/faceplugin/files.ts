// The model files of npm `faceplugin-face-recognition-js` 0.0.1, inside the installed package (they
// come with `npm ci`, nothing is fetched at run time), and how the wrappers open them.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { openOnnxSession, type OnnxSession } from '../onnx-session.ts';

const require = createRequire(import.meta.url);

/** The package's `model/<name>.onnx`. */
export function facepluginModelPath(name: 'fr_detect' | 'fr_feature' | 'fr_landmark'): string {
  return join(dirname(require.resolve('faceplugin-face-recognition-js/package.json')), 'model', `${name}.onnx`);
}

/** One of the package's models on one CPU thread (their graphs take a batch of one). */
export function openFacepluginModel(path: string, what: string): Promise<OnnxSession> {
  return openOnnxSession(path, { threads: 1 }, {
    what,
    howToGet: 'it comes with the npm package faceplugin-face-recognition-js (npm ci installs it)',
    error: (message) => new Error(message),
  });
}
