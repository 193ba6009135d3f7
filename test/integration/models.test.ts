// The service's real models (all on onnxruntime, in the model threads) on the real photos that
// face-api ships; face-api's SSD on tfjs is the reference the detector is held against.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alignToTemplate } from '../../src/align/warp.ts';
import { parseConfig } from '../../src/config.ts';
import { FaceApiDetector } from '../../lab/tfjs/detector.ts';
import { FacepluginLandmarker } from '../../src/detect/faceplugin-landmarks.ts';
import { loadModels, type Models } from '../../src/models/registry.ts';
import type { Detector } from '../../src/models/types.ts';
import type { Point, RgbImage } from '../../src/types.ts';

const demoDir = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');

async function load(file: string, flop = false): Promise<RgbImage> {
  const { data, info } = await sharp(join(demoDir, file)).flop(flop).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
}

describe('the service models in their threads', () => {
  let models: Models;
  beforeAll(async () => {
    models = await loadModels(parseConfig({}), 2);
  });
  afterAll(() => models?.close());

  it('finds the three people of sample1.jpg, with 68 landmarks inside each box', async () => {
    const faces = await models.detector.detect(await load('sample1.jpg'));
    expect(faces).toHaveLength(3);
    for (const f of faces) {
      expect(f.score).toBeGreaterThan(0.5);
      expect(f.landmarks).toHaveLength(68);
      const inside = f.landmarks.filter(
        (p) => p.x >= f.box.x - 0.1 * f.box.width && p.x <= f.box.x + 1.1 * f.box.width && p.y >= f.box.y - 0.1 * f.box.height && p.y <= f.box.y + 1.1 * f.box.height,
      );
      expect(inside.length).toBeGreaterThanOrEqual(60);
    }
  });

  it('embeds the same person closer than different people (mirrored photo against the original)', async () => {
    const image = await load('sample3.jpg');
    const mirrored = await load('sample3.jpg', true);
    const crops = async (img: RgbImage) =>
      (await models.detector.detect(img))
        .sort((a, b) => a.box.x - b.box.x)
        .map((f) => alignToTemplate(img, f.landmarks, models.recognizer.template).crop);
    const a = await models.recognizer.embed(await crops(image));
    const b = (await models.recognizer.embed(await crops(mirrored))).reverse(); // mirrored: right to left
    expect(a.length).toBe(3);
    expect(b.length).toBe(3);
    expect(models.recognizer.id).toBe('faceplugin-arcface');
    for (let i = 0; i < 3; i++) {
      expect(a[i]).toHaveLength(512);
      const same = cosine(a[i], b[i]);
      expect(same).toBeGreaterThan(parseConfig({}).match.threshold);
      for (let j = 0; j < 3; j++) if (j !== i) expect(cosine(a[i], b[j])).toBeLessThan(same);
    }
  });

  it("embeds with face-api's ported recognizer when recognize.model is faceapi", async () => {
    const faceapi = await loadModels(parseConfig({ recognize: { model: 'faceapi' } }), 1);
    try {
      const image = await load('sample1.jpg');
      const faces = await faceapi.detector.detect(image);
      const [e] = await faceapi.recognizer.embed([alignToTemplate(image, faces[0].landmarks, faceapi.recognizer.template).crop]);
      expect(faceapi.recognizer.id).toBe('faceapi-frnet');
      expect(e).toHaveLength(128);
    } finally {
      await faceapi.close();
    }
  });

  it('spreads requests over both workers and returns the same result as one at a time', async () => {
    const image = await load('sample2.jpg');
    const alone = await models.detector.detect(image);
    const together = await Promise.all([models.detector.detect(image), models.detector.detect(image)]);
    for (const r of together) expect(r.map((f) => Math.round(f.box.x))).toEqual(alone.map((f) => Math.round(f.box.x)));
  });

  it('a crop of the wrong size is refused with a clear error', async () => {
    await expect(models.recognizer.embed([{ width: 10, height: 10, data: new Uint8Array(300) }])).rejects.toThrow(/112×112/);
  });
});

describe("faceplugin's landmark model", () => {
  let models: Models;
  let landmarker: FacepluginLandmarker;
  beforeAll(async () => {
    [models, landmarker] = await Promise.all([loadModels(parseConfig({}), 1), FacepluginLandmarker.load()]);
  });
  afterAll(async () => {
    await models?.close();
    await landmarker?.close();
  });

  it("puts the eyes of clean faces where face-api's landmark net does (median within 8 % of the eye distance)", async () => {
    // Measured on clean LFW faces: a median 4 %, 90th percentile 6 % apart. On these photos' turned
    // and bowed heads the two disagree more (sample2: up to 77 %, left out), so the median is checked.
    const eyeCentres = (p: readonly Point[]) => [36, 42].map((s) => ({ x: p.slice(s, s + 6).reduce((a, q) => a + q.x, 0) / 6, y: p.slice(s, s + 6).reduce((a, q) => a + q.y, 0) / 6 }));
    const offsets: number[] = [];
    for (const file of ['sample1.jpg', 'sample3.jpg', 'sample4.jpg', 'sample5.jpg', 'sample6.jpg']) {
      const image = await load(file);
      for (const face of await models.detector.detect(image)) {
        const ours = await landmarker.locate(image, face.box);
        expect(ours).toHaveLength(68);
        const theirs = eyeCentres(face.landmarks), mine = eyeCentres(ours);
        const eyeDistance = Math.hypot(theirs[1].x - theirs[0].x, theirs[1].y - theirs[0].y);
        for (const k of [0, 1]) offsets.push(Math.hypot(mine[k].x - theirs[k].x, mine[k].y - theirs[k].y) / eyeDistance);
      }
    }
    expect(offsets.length).toBeGreaterThanOrEqual(30);
    expect(offsets.sort((a, b) => a - b)[Math.floor(offsets.length / 2)]).toBeLessThan(0.08);
  });
});

describe("the service's detector against face-api's SSD on tfjs", () => {
  let faceplugin: Models, ssd: Detector;
  beforeAll(async () => {
    [faceplugin, ssd] = await Promise.all([loadModels(parseConfig({}), 1), FaceApiDetector.create({ model: 'ssd', minConfidence: 0.5, tinyInputSize: 416 })]);
  });
  afterAll(async () => {
    await faceplugin?.close();
  });

  it("finds the faces SSD finds, and face-api's landmark net on its boxes puts the eyes where SSD's boxes do", async () => {
    expect(faceplugin.detector.id).toBe('faceplugin-rfb320+faceapi-landmark68');
    const centre = (p: readonly Point[], s: number) => ({ x: p.slice(s, s + 6).reduce((a, q) => a + q.x, 0) / 6, y: p.slice(s, s + 6).reduce((a, q) => a + q.y, 0) / 6 });
    const offsets: number[] = [];
    for (const file of ['sample1.jpg', 'sample3.jpg', 'sample4.jpg', 'sample5.jpg', 'sample6.jpg']) {
      const image = await load(file);
      const [ours, theirs] = await Promise.all([faceplugin.detector.detect(image), ssd.detect(image)]);
      expect(ours.length, file).toBe(theirs.length);
      for (const face of theirs) {
        // The same face: the nearest of ours by box centre, within a fifth of the box.
        const cx = face.box.x + face.box.width / 2, cy = face.box.y + face.box.height / 2;
        const dist = (f: (typeof ours)[number]) => Math.hypot(f.box.x + f.box.width / 2 - cx, f.box.y + f.box.height / 2 - cy);
        const mine = ours.reduce((a, b) => (dist(b) < dist(a) ? b : a));
        expect(dist(mine), file).toBeLessThan(face.box.width / 5);
        expect(mine.landmarks).toHaveLength(68);
        const eyes = [36, 42].map((s) => [centre(mine.landmarks, s), centre(face.landmarks, s)]);
        const eyeDistance = Math.hypot(eyes[1][1].x - eyes[0][1].x, eyes[1][1].y - eyes[0][1].y);
        for (const [a, b] of eyes) offsets.push(Math.hypot(a.x - b.x, a.y - b.y) / eyeDistance);
      }
    }
    expect(offsets.length).toBeGreaterThanOrEqual(30);
    // Measured on LFW camera frames: a median 2.9 %, 90th percentile 4.5 % of the eye distance.
    expect(offsets.sort((a, b) => a - b)[Math.floor(offsets.length / 2)]).toBeLessThan(0.06);
  });
});
