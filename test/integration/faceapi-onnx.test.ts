// face-api's landmark and recognition nets ported to ONNX (models/faceapi/, training/ports/faceapi_to_onnx.py)
// against face-api itself on tfjs-wasm, on real photos: face-api's demo photos and, where the shared
// data is there, 20 LFW photos. Faces are found by face-api's SSD; the tfjs landmarks are those of
// FaceApiDetector's landmarksOn (the box clipped to the image, the net's detectLandmarks, shifted back),
// the ONNX ones FaceApiOnnxLandmarker's; descriptors of the same aligned 150 px chips from both.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FACEAPI_RECOGNIZER_TEMPLATE } from '../../src/align/templates.ts';
import { alignToTemplate } from '../../src/align/warp.ts';
import { clipToImage, FaceApiDetector } from '../../lab/tfjs/detector.ts';
import {
  FaceApiOnnxLandmarker,
  faceRegion,
  LANDMARK_INPUT_SIZE,
  landmarkInput,
  landmarksInImage,
  squarePadding,
} from '../../src/detect/faceapi-landmarks.ts';
import { FaceApiRecognizer } from '../../lab/tfjs/recognizer.ts';
import { FaceApiOnnxRecognizer } from '../../src/embed/faceapi.ts';
import { loadFaceApi, type FaceApi } from '../../lab/tfjs/runtime.ts';
import type { Box, DetectedFace, Point, RgbImage } from '../../src/types.ts';

const root = resolve(import.meta.dirname, '../..');
const demoDir = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');
const LFW_DIR = join(root, '../shared/data/lfw-view1/images_deepfunneled');
const LFW_PHOTOS = 20;

async function decode(path: string): Promise<RgbImage> {
  const { data, info } = await sharp(path).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

/** 20 LFW photos spread over the alphabet (the first photo of every n-th person), or none without the data. */
function lfwPhotos(): string[] {
  if (!existsSync(LFW_DIR)) return [];
  const people = readdirSync(LFW_DIR).sort();
  const stride = Math.max(1, Math.floor(people.length / LFW_PHOTOS));
  const out: string[] = [];
  for (let i = 0; i < people.length && out.length < LFW_PHOTOS; i += stride) {
    const file = readdirSync(join(LFW_DIR, people[i])).filter((f) => /\.jpe?g$/i.test(f)).sort()[0];
    if (file) out.push(join(LFW_DIR, people[i], file));
  }
  return out;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
}

function maxPointDiff(a: readonly Point[], b: readonly Point[]): number {
  expect(a).toHaveLength(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i].x - b[i].x), Math.abs(a[i].y - b[i].y));
  return max;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

describe("face-api's crop, pad and resize for the landmark net (pure functions)", () => {
  it('cuts the box as face-api does: clipped to the image, floored', () => {
    for (const box of [{ x: 10.7, y: 3.2, width: 50.9, height: 61.5 }, { x: -5.5, y: -2.1, width: 40, height: 30 }, { x: 90.2, y: 70.8, width: 40, height: 50 }])
      expect(faceRegion(box, 100, 80)).toEqual(clipToImage(box, 100, 80));
    expect(faceRegion({ x: -5.5, y: 70.8, width: 40, height: 50 }, 100, 80)).toEqual({ x: 0, y: 70, width: 34, height: 9 });
  });

  it('pads the shorter side with the odd row after, as padToSquare(…, true)', () => {
    expect(squarePadding(100, 100)).toEqual({ side: 100, axis: 'y', before: 0, after: 0 });
    expect(squarePadding(95, 100)).toEqual({ side: 100, axis: 'x', before: 2, after: 3 });
    expect(squarePadding(100, 96)).toEqual({ side: 100, axis: 'y', before: 2, after: 2 });
  });

  it('samples the square at u · side / size, as tf.image.resizeBilinear without half-pixel centres', () => {
    // A 4×2 region (a 4×4 square: one zero row before, one after), grey levels 0, 40, 80, 120 across, to 8×8.
    const data = new Uint8Array(4 * 2 * 3);
    for (let y = 0; y < 2; y++) for (let x = 0; x < 4; x++) data.fill(40 * x, (y * 4 + x) * 3, (y * 4 + x) * 3 + 3);
    const input = landmarkInput({ width: 4, height: 2, data }, { x: 0, y: 0, width: 4, height: 2 }, 8);
    const red = (u: number, v: number) => input[v * 8 + u];
    // Row v = 2 and 3 read square rows 1 and 1.5: image row 0 (between it and row 1 is the same grey).
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((u) => red(u, 2))).toEqual([0, 20, 40, 60, 80, 100, 120, 120]);
    expect(red(3, 0)).toBe(0); // the padding row
    expect(red(4, 1)).toBeCloseTo(40, 10); // square row 0.5: half padding, half image (80 · 0.5)
    expect(red(6, 7)).toBe(0); // square row 3.5: padding row 3 and (clamped) 3 again
  });

  it('maps the net output back with the padding face-api assumes (half the difference each side)', () => {
    // A 50×100 cut at (10, 20): the square is 100, scaled 1.12; the net's (0.5, 0.5) is the cut's centre.
    const out = new Float32Array(136).fill(0.5);
    const [p] = landmarksInImage(out, { x: 10, y: 20, width: 50, height: 100 });
    expect(p.x).toBeCloseTo(10 + 25, 10);
    expect(p.y).toBeCloseTo(20 + 50, 10);
    expect(() => landmarksInImage(new Float32Array(10), { x: 0, y: 0, width: 1, height: 1 })).toThrow(/136/);
  });
});

describe("face-api's nets on ONNX against tfjs, on real photos", () => {
  let faceapi: FaceApi;
  let ssd: FaceApiDetector;
  let tfjsRecognizer: FaceApiRecognizer;
  let landmarker: FaceApiOnnxLandmarker;
  let recognizer: FaceApiOnnxRecognizer;
  /** Per photo: the image, SSD's boxes, tfjs's landmarks on them (landmarksOn). */
  const photos: { name: string; image: RgbImage; boxes: Box[]; tfjs: DetectedFace[] }[] = [];

  beforeAll(async () => {
    [faceapi, landmarker, recognizer] = await Promise.all([loadFaceApi(), FaceApiOnnxLandmarker.load(), FaceApiOnnxRecognizer.load()]);
    [ssd, tfjsRecognizer] = await Promise.all([FaceApiDetector.create({ model: 'ssd', minConfidence: 0.5, tinyInputSize: 416 }), FaceApiRecognizer.create()]);
    // face-api's landmark net on boxes as the service ran it on tfjs (private there; the code itself, not a copy).
    const landmarksOn = (ssd as unknown as { landmarksOn(image: RgbImage, found: { box: Box; score: number }[]): Promise<DetectedFace[]> }).landmarksOn.bind(ssd);
    const files = [...readdirSync(demoDir).filter((f) => /^sample\d\.jpg$/.test(f)).sort().map((f) => join(demoDir, f)), ...lfwPhotos()];
    const { tf } = faceapi;
    for (const file of files) {
      const image = await decode(file);
      // SSD as FaceApiDetector runs it (model: ssd), less its own landmark pass.
      const tensor = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
      const found = (await faceapi.detectAllFaces(tensor as never, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 50 })))
        .map((d) => ({ box: { x: d.box.x, y: d.box.y, width: d.box.width, height: d.box.height }, score: d.score }));
      tensor.dispose();
      const boxes = found.map((f) => f.box).filter((b) => faceRegion(b, image.width, image.height).width >= 1 && faceRegion(b, image.width, image.height).height >= 1);
      photos.push({ name: file.slice(file.lastIndexOf('/', file.lastIndexOf('/') - 1) + 1), image, boxes, tfjs: await landmarksOn(image, found) });
    }
  });
  afterAll(async () => {
    await landmarker?.close();
    await recognizer?.close();
  });

  it('found the faces to compare on', () => {
    const faces = photos.reduce((n, p) => n + p.boxes.length, 0);
    expect(photos.filter((p) => p.name.startsWith('demo/'))).toHaveLength(6);
    expect(faces).toBeGreaterThanOrEqual(20); // the demo photos alone hold 22
    for (const p of photos) expect(p.tfjs).toHaveLength(p.boxes.length);
  });

  it("cuts, pads and resizes each face as face-api's toBatchTensor(112) does", async () => {
    const { tf } = faceapi;
    let worst = 0;
    for (const { image, boxes } of photos.slice(0, 2)) {
      const input = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
      const regions = boxes.map((b) => faceRegion(b, image.width, image.height));
      const faces = await faceapi.extractFaceTensors(input as never, regions.map((r) => new faceapi.Rect(r.x, r.y, r.width, r.height)));
      for (const [i, face] of faces.entries()) {
        const batch = (await faceapi.toNetInput(face as never)).toBatchTensor(LANDMARK_INPUT_SIZE, true);
        const hwc = await batch.data();
        const chw = landmarkInput(image, regions[i]);
        const plane = LANDMARK_INPUT_SIZE * LANDMARK_INPUT_SIZE;
        const ours = new Float32Array(hwc.length);
        for (let k = 0; k < plane; k++) for (let c = 0; c < 3; c++) ours[k * 3 + c] = chw[c * plane + k];
        worst = Math.max(worst, maxAbsDiff(ours, hwc));
        batch.dispose();
        face.dispose();
      }
      input.dispose();
    }
    // tfjs-wasm interpolates in float32: a few thousandths of a grey level apart.
    expect(worst).toBeLessThan(0.01);
  });

  it('puts all 68 landmarks of every face within 0.5 px of tfjs', async () => {
    let worst = 0, where = '';
    for (const { name, image, boxes, tfjs } of photos) {
      if (!boxes.length) continue;
      const ours = await landmarker.locateMany(image, boxes);
      for (const [i, points] of ours.entries()) {
        const d = maxPointDiff(points, tfjs[i].landmarks);
        if (d > worst) [worst, where] = [d, `${name} face ${i}`];
      }
    }
    console.log(`landmarks: max |ONNX − tfjs| ${worst.toExponential(2)} px (${where})`);
    expect(worst).toBeLessThanOrEqual(0.5);
  });

  it('gives descriptors of the aligned chips at cosine ≥ 0.999 to tfjs (and ~1e-5 apart)', async () => {
    const chips = photos.flatMap(({ image, tfjs }) => tfjs.map((f) => alignToTemplate(image, f.landmarks, FACEAPI_RECOGNIZER_TEMPLATE).crop));
    const [ours, theirs] = [await recognizer.embed(chips), await tfjsRecognizer.embed(chips)];
    expect(ours).toHaveLength(chips.length);
    let minCos = 1, maxAbs = 0;
    for (let i = 0; i < chips.length; i++) {
      expect(ours[i]).toHaveLength(128);
      minCos = Math.min(minCos, cosine(ours[i], theirs[i]));
      maxAbs = Math.max(maxAbs, maxAbsDiff(ours[i], theirs[i]));
    }
    console.log(`descriptors of ${chips.length} chips: min cosine ${minCos.toFixed(7)}, max |ONNX − tfjs| ${maxAbs.toExponential(2)}`);
    expect(minCos).toBeGreaterThanOrEqual(0.999);
    expect(maxAbs).toBeLessThan(1e-4);
  });

  it('a batch of N gives what N runs of one give', async () => {
    const { image, boxes, tfjs } = photos.find((p) => p.name === 'demo/sample5.jpg')!;
    expect(boxes.length).toBeGreaterThanOrEqual(4);
    const together = await landmarker.locateMany(image, boxes);
    for (const [i, box] of boxes.entries()) expect(maxPointDiff(together[i], await landmarker.locate(image, box))).toBeLessThan(1e-3);
    const chips = tfjs.map((f) => alignToTemplate(image, f.landmarks, FACEAPI_RECOGNIZER_TEMPLATE).crop);
    const batch = await recognizer.embed(chips);
    for (const [i, chip] of chips.entries()) expect(maxAbsDiff(batch[i], (await recognizer.embed([chip]))[0])).toBeLessThan(1e-5);
    expect(await recognizer.embed([])).toEqual([]);
    expect(await landmarker.locateMany(image, [])).toEqual([]);
  });

  it('names itself as the service expects, and refuses what it cannot take', async () => {
    expect(recognizer.id).toBe('faceapi-frnet');
    expect(recognizer.dims).toBe(128);
    expect(recognizer.template).toBe(FACEAPI_RECOGNIZER_TEMPLATE);
    expect(recognizer.version).toMatch(/^[0-9a-f]{16}-dlib-150-p0\.25$/);
    await expect(recognizer.embed([{ width: 112, height: 112, data: new Uint8Array(112 * 112 * 3) }])).rejects.toThrow(/150×150/);
    const { image } = photos[0];
    await expect(landmarker.locate(image, { x: image.width + 10, y: 0, width: 50, height: 50 })).rejects.toThrow(/no whole pixel inside/);
  });
});

describe('missing model files', () => {
  it('say which file is missing and how to make it', async () => {
    await expect(FaceApiOnnxLandmarker.load('/nonexistent/landmark68.onnx')).rejects.toThrow(
      /\/nonexistent\/landmark68\.onnx.*\/usr\/bin\/python3 training\/ports\/faceapi_to_onnx\.py/,
    );
    await expect(FaceApiOnnxRecognizer.load('/nonexistent/recognizer.onnx')).rejects.toThrow(
      /\/nonexistent\/recognizer\.onnx.*\/usr\/bin\/python3 training\/ports\/faceapi_to_onnx\.py/,
    );
  });
});
