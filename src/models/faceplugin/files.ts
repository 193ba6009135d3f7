// The model files of npm `faceplugin-face-recognition-js` 0.0.1, inside the installed package: they
// come with `npm ci`, nothing is fetched at run time.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** The package's `model/<name>.onnx`. */
export function facepluginModelPath(name: 'fr_feature' | 'fr_landmark'): string {
  return join(dirname(require.resolve('faceplugin-face-recognition-js/package.json')), 'model', `${name}.onnx`);
}

export const HOW_TO_GET_FACEPLUGIN_MODELS = 'it comes with the npm package faceplugin-face-recognition-js (npm ci installs it)';
