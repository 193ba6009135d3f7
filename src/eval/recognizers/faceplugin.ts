// The 512-D recognizer of npm `faceplugin-face-recognition-js` 0.0.1 (model/fr_feature.onnx, a
// ~5 MB mobile network), run with onnxruntime-node. Its own preprocessing (lib/fr_feature.js):
// eye centres from the four eyelid points of each eye, nose tip, mouth corners averaged with the
// inner lip corners, warped onto InsightFace's ArcFace 112×112 five-point template; RGB,
// (v − 127) / 128, NCHW. The package warps with an affine fit of the first three points only; here
// the five points are fitted by a similarity (InsightFace's own practice for this template), which
// keeps the face's aspect.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { InferenceSession as Session } from 'onnxruntime-node';
import type { RgbImage } from '../../types.ts';
import { checkChips, meanOf, type ChipGeometry, type EvalRecognizer } from './types.ts';

export const FACEPLUGIN_ID = 'faceplugin';

/** InsightFace's ArcFace template (REFERENCE_FACIAL_POINTS of fr_feature.js), 112 px. */
export const ARCFACE_112_POINTS = [
  { x: 38.29459953, y: 51.69630051 },
  { x: 73.53179932, y: 51.50139999 },
  { x: 56.02519989, y: 71.73660278 },
  { x: 41.54930115, y: 92.3655014 },
  { x: 70.72990036, y: 92.20410156 },
] as const;

/** fr_feature.js's convert68pts5pts on iBUG 68-point landmarks. */
export const FACEPLUGIN_GEOMETRY: ChipGeometry = {
  name: 'arcface-112-faceplugin5',
  size: 112,
  points: ARCFACE_112_POINTS,
  sourcePoints: (l) => [meanOf(l, [37, 38, 40, 41]), meanOf(l, [43, 44, 46, 47]), meanOf(l, [30]), meanOf(l, [48, 60]), meanOf(l, [54, 64])],
};

const require = createRequire(import.meta.url);

/** The model file inside the installed package. */
export function facepluginModelPath(): string {
  return join(dirname(require.resolve('faceplugin-face-recognition-js/package.json')), 'model', 'fr_feature.onnx');
}

/** (v − 127) / 128 per RGB channel, planar (NCHW) — the package's preprocessFeature. */
export function facepluginInput(chip: RgbImage): Float32Array {
  const plane = chip.width * chip.height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[c * plane + i] = (chip.data[i * 3 + c] - 127) / 128;
  return out;
}

export async function loadFacepluginRecognizer(modelPath = facepluginModelPath()): Promise<EvalRecognizer> {
  const ort = await import('onnxruntime-node');
  const bytes = await readFile(modelPath);
  const session: Session = await ort.InferenceSession.create(bytes);
  const [input] = session.inputNames, [output] = session.outputNames;
  const size = FACEPLUGIN_GEOMETRY.size;
  return {
    id: FACEPLUGIN_ID,
    version: `${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}-${FACEPLUGIN_GEOMETRY.name}`,
    dims: 512,
    description: 'faceplugin-face-recognition-js 0.0.1 fr_feature.onnx (onnxruntime-node), 112×112 ArcFace five-point chip, RGB (v−127)/128 NCHW, 512-D',
    chip: FACEPLUGIN_GEOMETRY,
    async embed(chips) {
      checkChips(FACEPLUGIN_ID, chips, size);
      const out: Float32Array[] = [];
      // The exported graph has a fixed batch of 1.
      for (const chip of chips) {
        const result = await session.run({ [input]: new ort.Tensor('float32', facepluginInput(chip), [1, 3, size, size]) });
        out.push(Float32Array.from(result[output].data as Float32Array));
      }
      return out;
    },
    close: () => session.release(),
  };
}
