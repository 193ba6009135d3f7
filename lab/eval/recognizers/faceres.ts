// The `faceres` model of npm `@vladmandic/human` 3.3.6 (models/faceres.json + .bin: HSE-FaceRes,
// Savchenko's multi-output MobileNet, 224×224 input, 1024-D descriptor from global_pooling/Mean),
// run with @tensorflow/tfjs on the WASM backend, loaded from the package's files (nothing fetched).
// Human's own preprocessing (src/face/faceres.ts, facemeshutil.ts): the BlazeFace box enlarged
// 1.4×, squared, cut and resized to 224, RGB scaled 0–1 then ×255 (so plain 0–255 values), NHWC.
// That crop is not defined by landmarks, so its five-point template here is measured: the median
// place of our detector's eye centres, nose tip and mouth corners in the crops Human cut itself
// (BlazeFace, rotation correction off, its default) on the first image of each of the first 200
// pairs of LFW View 1's pairsDevTrain.txt (measure-faceres-template.ts). Faces are rotated upright
// by the similarity, as Human's docs recommend (face.detector.rotation: true) for descriptors.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { RgbImage } from '../../../src/types.ts';
import { requireOptional, resolveOptional } from '../../optional.ts';
import { checkChips, templateGeometry, type ChipGeometry, type EvalRecognizer } from './types.ts';

export const FACERES_ID = 'faceres';

export const FACERES_GEOMETRY: ChipGeometry = templateGeometry({
  name: 'human-blazeface-224-median5',
  size: 224,
  landmarkGroups: [[36, 37, 38, 39, 40, 41], [42, 43, 44, 45, 46, 47], [30], [48], [54]],
  points: [
    { x: 76.23, y: 73.49 },
    { x: 141.04, y: 72.81 },
    { x: 109.11, y: 112.01 },
    { x: 82.99, y: 142.78 },
    { x: 137.93, y: 142.09 },
  ],
});

const require = createRequire(import.meta.url);
type Tf = typeof import('@tensorflow/tfjs');

/** Human's models folder (the package's exports do not list package.json, so resolve its entry point). */
export function humanModelDir(): string {
  return join(dirname(resolveOptional('@vladmandic/human', 'the faceres recognizer')), '..', 'models');
}

let backend: Promise<Tf> | undefined;

/** tfjs on its WASM backend with the local .wasm files. */
function wasmTf(): Promise<Tf> {
  backend ??= (async () => {
    const tf = requireOptional<Tf>('@tensorflow/tfjs', 'the faceres recognizer');
    const wasm = requireOptional<{ setWasmPaths(path: string, fetch: boolean): void }>('@tensorflow/tfjs-backend-wasm', 'the faceres recognizer');
    wasm.setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/', false);
    await tf.setBackend('wasm');
    await tf.ready();
    if (tf.getBackend() !== 'wasm') throw new Error(`tfjs backend is ${tf.getBackend()}, expected wasm`);
    return tf;
  })();
  return backend;
}

interface GraphModelJson {
  modelTopology: object;
  format?: string;
  signature?: object;
  weightsManifest: { paths: string[]; weights: object[] }[];
}

export async function loadFaceresRecognizer(modelDir = humanModelDir(), batchSize = 8): Promise<EvalRecognizer> {
  const tf = await wasmTf();
  const jsonBytes = await readFile(join(modelDir, 'faceres.json'));
  const json = JSON.parse(jsonBytes.toString('utf8')) as GraphModelJson;
  const weights = Buffer.concat(await Promise.all(json.weightsManifest.flatMap((g) => g.paths).map((p) => readFile(join(modelDir, p)))));
  const model = await tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights) as never,
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
      format: json.format,
      signature: json.signature,
    }),
  );
  const size = FACERES_GEOMETRY.size;
  const digest = createHash('sha256').update(jsonBytes).update(weights).digest('hex').slice(0, 12);
  return {
    id: FACERES_ID,
    version: `${digest}-${FACERES_GEOMETRY.name}`,
    dims: 1024,
    description: '@vladmandic/human 3.3.6 faceres (tfjs-wasm), 224×224 chip on a measured BlazeFace-crop template, RGB 0–255 NHWC, 1024-D',
    chip: FACERES_GEOMETRY,
    async embed(chips: RgbImage[]) {
      checkChips(FACERES_ID, chips, size);
      const out: Float32Array[] = [];
      for (let start = 0; start < chips.length; start += batchSize) {
        const batch = chips.slice(start, start + batchSize);
        const pixels = new Float32Array(batch.length * size * size * 3);
        batch.forEach((chip, k) => pixels.set(chip.data, k * size * size * 3));
        const input = tf.tensor4d(pixels, [batch.length, size, size, 3]);
        const outputs = model.execute(input, 'global_pooling/Mean') as import('@tensorflow/tfjs').Tensor;
        try {
          const flat = (await outputs.data()) as Float32Array;
          for (let k = 0; k < batch.length; k++) out.push(flat.slice(k * 1024, (k + 1) * 1024));
        } finally {
          input.dispose();
          outputs.dispose();
        }
      }
      return out;
    },
    close: async () => model.dispose(),
  };
}
