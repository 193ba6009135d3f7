// The model pool: the same models in worker threads give what they give in this thread, a batch
// gives what single runs give, and a model that cannot open says which file and why.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCFACE_TEMPLATE } from '../../src/align/templates.ts';
import { vendoredModel } from '../../src/models/files.ts';
import { ArcFaceRecognizer } from '../../src/embed/arcface.ts';
import { ModelError } from '../../src/models/onnx-model.ts';
import { OnnxPool } from '../../src/models/pool.ts';
import type { RgbImage } from '../../src/types.ts';

const DEMO = 'node_modules/@vladmandic/face-api/demo';

async function crops(n: number): Promise<RgbImage[]> {
  // Real pixels at the recognizer's size (alignment does not matter for a comparison of runtimes).
  const files = readdirSync(DEMO).filter((f) => f.endsWith('.jpg')).slice(0, n);
  return Promise.all(
    files.map(async (f) => {
      const { data, info } = await sharp(join(DEMO, f)).resize(ARCFACE_TEMPLATE.size, ARCFACE_TEMPLATE.size).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      return { width: info.width, height: info.height, data: new Uint8Array(data) };
    }),
  );
}

const cosine = (a: Float32Array, b: Float32Array) => {
  let s = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) (s += a[i] * b[i]), (na += a[i] * a[i]), (nb += b[i] * b[i]);
  return s / Math.sqrt(na * nb);
};

describe('OnnxPool', () => {
  let pool: OnnxPool;
  let local: ArcFaceRecognizer;
  beforeAll(async () => {
    [pool, local] = await Promise.all([OnnxPool.start(2, [vendoredModel('arcface')]), ArcFaceRecognizer.load()]);
  });
  afterAll(async () => {
    await Promise.all([pool?.close(), local?.close()]);
  });

  it('runs the recognizer in its threads as this thread does, a batch as single runs', async () => {
    const faces = await crops(3);
    const pooled = new ArcFaceRecognizer(pool.runner('arcface'));
    expect(pooled.version).toBe(local.version);
    const [inPool, here] = await Promise.all([pooled.embed(faces), local.embed(faces)]);
    const singly = await Promise.all(faces.map(async (f) => (await pooled.embed([f]))[0]));
    for (let i = 0; i < faces.length; i++) {
      expect(inPool[i]).toHaveLength(512);
      expect(cosine(inPool[i], here[i])).toBeGreaterThan(0.99999);
      expect(cosine(inPool[i], singly[i])).toBeGreaterThan(0.99999);
    }
    // Different photos are different embeddings: the batch was not one face repeated.
    expect(cosine(inPool[0], inPool[1])).toBeLessThan(0.99);
  });

  it('spreads concurrent requests over its threads', async () => {
    const faces = await crops(1);
    const pooled = new ArcFaceRecognizer(pool.runner('arcface'));
    const runs = Array.from({ length: 4 }, () => pooled.embed(faces));
    expect(pool.busy).toBe(4);
    await Promise.all(runs);
    expect(pool.busy).toBe(0);
  });

  it('lets the runs in flight finish when it closes (stopping a thread mid-run would abort the process)', async () => {
    const faces = await crops(2);
    const closing = await OnnxPool.start(2, [vendoredModel('arcface')]);
    const recognizer = new ArcFaceRecognizer(closing.runner('arcface'));
    const runs = Array.from({ length: 4 }, () => recognizer.embed(faces));
    await closing.close();
    for (const embeddings of await Promise.all(runs)) expect(embeddings).toHaveLength(2);
  });

  it('names the missing file when a model cannot open, and refuses work once closed', async () => {
    await expect(OnnxPool.start(1, [vendoredModel('arcface', '/nonexistent/fr_feature.onnx')])).rejects.toThrow(ModelError);
    await expect(OnnxPool.start(1, [vendoredModel('arcface', '/nonexistent/fr_feature.onnx')])).rejects.toThrow(/no ArcFace recognizer at \/nonexistent\/fr_feature\.onnx/);
    const small = await OnnxPool.start(1, [vendoredModel('mask-landmarks')]);
    await small.close();
    await expect(small.run('mask-landmarks', {})).rejects.toThrow(/closed/);
    expect(() => pool.runner('nothing')).toThrow(/no model "nothing"/);
  });
});

