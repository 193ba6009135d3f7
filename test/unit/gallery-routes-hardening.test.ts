// The gallery API's hardening (issue 19): names refused or matched by their canonical form, the JSON
// upload limit that follows gallery.maxImageBytes and says so, and enrollment under load (503).
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { Enroller, type EnrollSettings } from '../../src/gallery/enroll.ts';
import { GalleryStore } from '../../src/gallery/store.ts';
import { GalleryIndex } from '../../src/match/gallery-index.ts';
import { galleryRoutes, jsonBodyLimit } from '../../src/server/routes/gallery.ts';
import type { Detector } from '../../src/models/types.ts';
import type { RgbImage } from '../../src/types.ts';
import { FakeDetector, FakeRecognizer, makePhoto, tempDir, TEST_SETTINGS } from './gallery-fakes.ts';

describe('gallery routes, hardened', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: GalleryStore;
  let index: GalleryIndex;
  let app: FastifyInstance;

  async function start(settings: Partial<EnrollSettings> = {}, detector: Detector = new FakeDetector()) {
    tmp = tempDir();
    store = GalleryStore.open(tmp.file('gallery.db'));
    const recognizer = new FakeRecognizer();
    const enroller = new Enroller({ store, detector, recognizer, settings: { ...TEST_SETTINGS, ...settings } });
    ({ index } = await GalleryIndex.open(store, recognizer));
    app = Fastify();
    await app.register(galleryRoutes({ store, index, enroller }));
  }
  afterEach(async () => {
    await app?.close();
    index?.close();
    store?.close();
    tmp?.remove();
  });

  const create = (payload: string | Record<string, unknown>) =>
    app.inject({ method: 'POST', url: '/api/identities', payload, headers: { 'content-type': 'application/json' } });

  it('refuses a name that is not a string or is broken Unicode (400), and finds the same name however it is spelt (409)', async () => {
    await start();
    expect((await create({ name: 'Ada Lovelace' })).statusCode).toBe(201);
    for (const spelling of ['Ada\u200b Lovelace', 'ADA LOVELACE', 'Ada Lovelace\u202e', '\u2067Ada Lovelace\u2069']) {
      const response = await create({ name: spelling });
      expect({ status: response.statusCode, error: response.json().error }, JSON.stringify(spelling)).toEqual({ status: 409, error: 'identity_exists' });
      expect(response.json().message).toContain('"Ada Lovelace"');
    }
    expect((await create({ name: 'Jose\u0301' })).json().name).toBe('José');
    expect((await create({ name: 'JOSÉ' })).statusCode).toBe(409);

    const number = await create({ name: 5 });
    expect([number.statusCode, number.json().error]).toEqual([400, 'invalid_name']);
    expect(number.json().message).toMatch(/must be a string, got number/);
    const surrogate = await create('{"name": "Ada \\ud800"}');
    expect([surrogate.statusCode, surrogate.json().error]).toEqual([400, 'invalid_name']);
    expect(surrogate.json().message).toMatch(/surrogate/);
    expect((await app.inject({ method: 'GET', url: '/api/identities' })).json().identities.map((i: { name: string }) => i.name)).toEqual(['Ada Lovelace', 'José']);
  });

  it('takes a base64 JSON photo up to gallery.maxImageBytes (fastify refused JSON over 1 MiB), and names the limit in force beyond', async () => {
    const detector = new FakeDetector();
    await start({ maxImageBytes: 10 * 1024 * 1024 }, detector);
    const photo = await makePhoto(2000, 1500, [{ x: 600, y: 300, size: 300, person: 1 }], { format: 'png' });
    detector.register(photo);
    const body = JSON.stringify({ image: photo.bytes.toString('base64') });
    expect(body.length).toBeGreaterThan(3_400_000);
    const id = (await create({ name: 'Big' })).json().id;
    const accepted = await app.inject({ method: 'POST', url: `/api/identities/${id}/faces`, payload: body, headers: { 'content-type': 'application/json' } });
    expect(accepted.statusCode, accepted.body).toBe(201);

    const limit = jsonBodyLimit(10 * 1024 * 1024);
    const tooBig = await app.inject({ method: 'POST', url: `/api/identities/${id}/faces`, payload: `{"image": "${'A'.repeat(limit)}"}`, headers: { 'content-type': 'application/json' } });
    expect([tooBig.statusCode, tooBig.json().error]).toEqual([413, 'image_too_large']);
    expect(tooBig.json().message).toContain(`the JSON body exceeds ${limit} bytes, the limit in force (gallery.maxImageBytes 10485760 as base64`);
  });

  it('enrolls enrollConcurrency photos at once, queues enrollQueue more, and answers the next 503 with Retry-After', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const inner = new FakeDetector();
    const slow: Detector = { id: 'slow', detect: async (image: RgbImage) => (await held, inner.detect(image)) };
    await start({ enrollConcurrency: 1, enrollQueue: 1 }, slow);
    const photos = await Promise.all([0, 1, 2].map((p) => makePhoto(640 + p, 480, [{ x: 250, y: 100, size: 180, person: p }])));
    for (const photo of photos) inner.register(photo);
    const ids = await Promise.all(['A', 'B', 'C'].map(async (name) => (await create({ name })).json().id as number));
    // inject() dispatches only once awaited: start all three now.
    const uploads = photos.map((photo, i) =>
      Promise.resolve(app.inject({ method: 'POST', url: `/api/identities/${ids[i]}/faces`, payload: photo.bytes, headers: { 'content-type': 'image/jpeg' } })),
    );
    const refused = await uploads[2];
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json()).toMatchObject({ error: 'busy', retryAfterSec: 1, message: expect.stringMatching(/1 running, 1 waiting/) });
    release();
    expect((await Promise.all(uploads.slice(0, 2))).map((r) => r.statusCode)).toEqual([201, 201]);
    expect(store.countSamples()).toBe(2);
  });
});
