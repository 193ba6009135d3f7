// A face that crossed the wire is recognised as the single process recognises it: on real LFW faces,
// four clean and four behind MaskTheFace's surgical mask, the region an ingest worker sends (encoded
// and decoded) gives the infer worker the same route, occlusion and embeddings (whole face and upper
// face) as the whole frame gives the single process.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { lastValueFrom, of } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SURGICAL_MASK_TEMPLATE, withSurgicalMask } from '../../lab/eval/surgical-mask.ts';
import { faceEntries, regionTemplates } from '../../src/cluster/ingest.ts';
import { decodeFaceEntry, encodeFaceEntry, shiftObservation } from '../../src/cluster/wire.ts';
import { parseConfig } from '../../src/config.ts';
import { loadServiceModels, type ServiceModels } from '../../src/models/registry.ts';
import { faceStages } from '../../src/pipeline/index.ts';
import type { EmbeddedFace, FaceObservation, FrameFaces } from '../../src/pipeline/messages.ts';
import type { GalleryMatcher } from '../../src/match/policy.ts';
import type { RgbImage } from '../../src/types.ts';

const root = join(import.meta.dirname, '../..');
const LFW = process.env.UNMASK_LFW_DIR ?? join(root, '../shared/data/lfw-view1/images_deepfunneled');
const MASK_TEMPLATE = join(root, '../shared/data', SURGICAL_MASK_TEMPLATE);
const ready = existsSync(LFW) && existsSync(MASK_TEMPLATE) && existsSync(join(root, 'models/occlusion-seg.onnx'));
if (!ready) console.warn(`cluster region: skipped, needs LFW View 1 at ${LFW}, the MaskTheFace templates and models/occlusion-seg.onnx`);

const config = parseConfig({ detect: { workers: 1 } });
// The upper-face route needs a gallery with upper faces; none is searched here.
const gallery: GalleryMatcher = { search: () => [], searchUpperFace: () => [], identity: () => undefined };

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) (dot += a[i] * b[i]), (na += a[i] * a[i]), (nb += b[i] * b[i]);
  return dot / Math.sqrt(na * nb);
}

/** 1280×480: the first eight LFW people with three photos, 200 px each on grey; the first four masked. */
async function frame(): Promise<RgbImage> {
  const people = readdirSync(LFW).sort().filter((n) => readdirSync(join(LFW, n)).length >= 3).slice(0, 8);
  const cells = await Promise.all(
    people.map(async (name, i) => {
      const photo = join(LFW, name, readdirSync(join(LFW, name)).sort()[0]);
      const image = i < 4 ? await withSurgicalMask(photo, MASK_TEMPLATE) : photo;
      return { input: await sharp(image).resize(200, 200).png().toBuffer(), left: (i % 4) * 320 + 60, top: Math.floor(i / 4) * 240 + 20 };
    }),
  );
  const { data, info } = await sharp({ create: { width: 1280, height: 480, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .composite(cells)
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

describe.skipIf(!ready)('a face across the wire', () => {
  let models: ServiceModels;

  beforeAll(async () => {
    models = await loadServiceModels(config);
  });

  afterAll(async () => {
    await models?.close();
  });

  it('gives the same route, occlusion and embeddings as the whole frame', async () => {
    const image = await frame();
    const detected = await models.detector.detect(image);
    expect(detected.length).toBeGreaterThanOrEqual(6);
    const observations: FaceObservation[] = detected.map((face, i) => ({ camera: 'door', frameSeq: 1, frameTime: 1000, trackId: i + 1, face, quality: 0.9 }));
    const message: FrameFaces<FaceObservation> = { frame: { camera: 'door', seq: 1, time: 1000, image }, faces: observations, closedTracks: [] };
    const stages = () => faceStages({ config, ...models, gallery }, () => undefined);
    const whole = (await lastValueFrom(of(message).pipe(stages()))).faces;

    const entries = await Promise.all(faceEntries(message, 1, regionTemplates(config), 0).map(async (e) => decodeFaceEntry(await encodeFaceEntry(e))));
    const crossed: EmbeddedFace[] = [];
    for (const { face } of entries) {
      const local = shiftObservation(face!.observation, -face!.region.x, -face!.region.y);
      const regionMessage = { frame: { camera: 'door', seq: 1, time: 1000, image: face!.region.image }, faces: [local], closedTracks: [] };
      crossed.push((await lastValueFrom(of(regionMessage).pipe(stages()))).faces[0]);
    }
    const routes = whole.map((f) => f.face.route);
    expect(routes.filter((r) => r !== 'clean').length).toBeGreaterThanOrEqual(2); // the masks were found
    whole.forEach((w, i) => {
      const c = crossed[i];
      expect(c.face.route, `face ${i}`).toBe(w.face.route);
      expect(Math.abs((c.face.occlusion?.fraction ?? 0) - (w.face.occlusion?.fraction ?? 0)), `face ${i}`).toBeLessThan(0.01);
      expect(cosine(c.embedding, w.embedding), `face ${i}`).toBeGreaterThan(0.999);
      if (w.upperFaceEmbedding) expect(cosine(c.upperFaceEmbedding!, w.upperFaceEmbedding), `face ${i}`).toBeGreaterThan(0.999);
      else expect(c.upperFaceEmbedding).toBeUndefined();
      // Far less than the frame crosses.
      expect(entries[i].face!.region.image.data.length).toBeLessThan(image.data.length / 5);
    });
  });
});
