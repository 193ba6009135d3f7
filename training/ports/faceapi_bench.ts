// Per-face latency (p50, one thread) of face-api's landmark and recognition nets: the ONNX ports on
// onnxruntime-node (graph optimisation 'extended' and 'all') against face-api on tfjs-wasm, at batch 1
// and batch 8. Two levels: the wrapper as the service calls it (input preparation included: for the
// landmark net the crop, pad and resize; tfjs's landmarksOn runs one face at a time, as the service did),
// and the net alone on a prepared batch.
//
//   npx tsx training/ports/faceapi_bench.ts [--runs 25]
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { FACEAPI_RECOGNIZER_TEMPLATE } from '../../src/align/templates.ts';
import { alignToTemplate } from '../../src/align/warp.ts';
import { FaceApiDetector } from '../../lab/tfjs/detector.ts';
import { vendoredModelPath } from '../../src/models/files.ts';
import { FaceApiOnnxLandmarker, faceRegion, LANDMARK_INPUT_SIZE, landmarkInput } from '../../src/detect/faceapi-landmarks.ts';
import { FaceApiRecognizer } from '../../lab/tfjs/recognizer.ts';
import { FaceApiOnnxRecognizer, recognizerInput } from '../../src/embed/faceapi.ts';
import { loadFaceApi } from '../../lab/tfjs/runtime.ts';
import { openRunner, type OnnxRunner } from '../../src/models/runner.ts';
import type { Box, DetectedFace, RgbImage } from '../../src/types.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '25' } } });
const RUNS = Number(values.runs);
const demo = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');

const { data, info } = await sharp(join(demo, 'sample5.jpg')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
const image: RgbImage = { width: info.width, height: info.height, data: new Uint8Array(data) };
const faceapi = await loadFaceApi();
const { tf } = faceapi;
const ssd = await FaceApiDetector.create({ model: 'ssd', minConfidence: 0.5, tinyInputSize: 416 });
const faces = await ssd.detect(image);
const landmarksOn = (ssd as unknown as { landmarksOn(i: RgbImage, f: { box: Box; score: number }[]): Promise<DetectedFace[]> }).landmarksOn.bind(ssd);
const take = <T>(items: T[], n: number): T[] => Array.from({ length: n }, (_, i) => items[i % items.length]);

async function p50PerFace(faceCount: number, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 3; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    times.push((performance.now() - t) / faceCount);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

const rows: { model: string; runtime: string; level: string; batch: number; ms: number }[] = [];
const record = (model: string, runtime: string, level: string, batch: number, ms: number) => {
  rows.push({ model, runtime, level, batch, ms: Math.round(ms * 100) / 100 });
  console.error(`${model} ${runtime} ${level} batch ${batch}: ${ms.toFixed(2)} ms/face`);
};

async function onnx(name: 'landmark68' | 'recognizer', optimization: 'extended' | 'all'): Promise<OnnxRunner> {
  return openRunner(vendoredModelPath(name === 'landmark68' ? 'landmarks' : 'faceapi-recognizer'), { threads: 1, optimization }, { what: name, howToGet: 'export it', error: (m) => new Error(m) });
}

for (const batch of [1, 8]) {
  // Landmarks. Wrapper level.
  const boxes = take(faces.map((f) => f.box), batch);
  record('landmark68', 'tfjs-wasm', 'wrapper (landmarksOn, a face at a time)', batch, await p50PerFace(batch, () => landmarksOn(image, boxes.map((box) => ({ box, score: 1 })))));
  for (const optimization of ['extended', 'all'] as const) {
    const landmarker = new FaceApiOnnxLandmarker(await onnx('landmark68', optimization));
    record('landmark68', `onnx ${optimization}`, 'wrapper (locateMany)', batch, await p50PerFace(batch, () => landmarker.locateMany(image, boxes)));
    await landmarker.close();
  }
  // Net alone on a prepared batch.
  const regions = boxes.map((b) => faceRegion(b, image.width, image.height));
  const plane = 3 * LANDMARK_INPUT_SIZE * LANDMARK_INPUT_SIZE;
  const input = new Float32Array(batch * plane);
  regions.forEach((r, i) => landmarkInput(image, r, LANDMARK_INPUT_SIZE, input, i * plane));
  const side = LANDMARK_INPUT_SIZE, pixels = side * side;
  const squares = regions.map((_, i) => {
    const hwc = new Float32Array(plane);
    for (let k = 0; k < pixels; k++) for (let c = 0; c < 3; c++) hwc[k * 3 + c] = input[i * plane + c * pixels + k];
    return tf.tensor3d(hwc, [side, side, 3], 'float32');
  });
  record('landmark68', 'tfjs-wasm', 'net', batch, await p50PerFace(batch, async () => faceapi.nets.faceLandmark68Net.detectLandmarks((batch === 1 ? squares[0] : squares) as never)));
  for (const t of squares) t.dispose();
  for (const optimization of ['extended', 'all'] as const) {
    const runner = await onnx('landmark68', optimization);
    const feeds = { [runner.inputNames[0]]: { data: input, dims: [batch, 3, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE] } };
    record('landmark68', `onnx ${optimization}`, 'net', batch, await p50PerFace(batch, () => runner.run(feeds)));
    await runner.close();
  }

  // Recognizer: the wrapper is the net plus a copy of the chips, at both levels alike.
  const chips = take(faces.map((f) => alignToTemplate(image, f.landmarks, FACEAPI_RECOGNIZER_TEMPLATE).crop), batch);
  const tfjsRecognizer = await FaceApiRecognizer.create();
  record('recognizer', 'tfjs-wasm', 'wrapper (embed)', batch, await p50PerFace(batch, () => tfjsRecognizer.embed(chips)));
  for (const optimization of ['extended', 'all'] as const) {
    const runner = await onnx('recognizer', optimization);
    const recognizer = new FaceApiOnnxRecognizer(runner);
    record('recognizer', `onnx ${optimization}`, 'wrapper (embed)', batch, await p50PerFace(batch, () => recognizer.embed(chips)));
    const chw = new Float32Array(batch * 3 * 150 * 150);
    chips.forEach((c, i) => recognizerInput(c, chw, i * 3 * 150 * 150));
    record('recognizer', `onnx ${optimization}`, 'net', batch, await p50PerFace(batch, () => runner.run({ [runner.inputNames[0]]: { data: chw, dims: [batch, 3, 150, 150] } })));
    await recognizer.close();
  }
}
console.log(JSON.stringify({ image: 'demo/sample5.jpg', faces: faces.length, runs: RUNS, rows }, null, 1));
