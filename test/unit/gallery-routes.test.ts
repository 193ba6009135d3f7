import Fastify, { type FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Enroller } from '../../src/gallery/enroll.ts';
import { GalleryIndex } from '../../src/match/gallery-index.ts';
import { GalleryStore } from '../../src/gallery/store.ts';
import { galleryRoutes } from '../../src/server/routes/gallery.ts';
import { FakeDetector, FakeRecognizer, makePhoto, tempDir, TEST_SETTINGS, type Photo } from './gallery-fakes.ts';

const MAX_BYTES = 300_000;

describe('gallery routes', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: GalleryStore;
  let index: GalleryIndex;
  let detector: FakeDetector;
  let app: FastifyInstance;
  let single: Photo;

  beforeEach(async () => {
    tmp = tempDir();
    store = GalleryStore.open(tmp.file('gallery.db'));
    detector = new FakeDetector();
    const recognizer = new FakeRecognizer();
    const enroller = new Enroller({ store, detector, recognizer, settings: { ...TEST_SETTINGS, maxImageBytes: MAX_BYTES } });
    ({ index } = await GalleryIndex.open(store, recognizer));
    app = Fastify();
    await app.register(galleryRoutes({ store, index, enroller }));
    single = await makePhoto(640, 480, [{ x: 250, y: 100, size: 180, person: 1 }]);
    detector.register(single);
  });
  afterEach(async () => {
    await app.close();
    index.close();
    store.close();
    tmp.remove();
  });

  const createIdentity = async (name: string) => {
    const response = await app.inject({ method: 'POST', url: '/api/identities', payload: { name } });
    expect(response.statusCode).toBe(201);
    return response.json() as { id: number; name: string };
  };

  const postFace = (id: number, body: Buffer, contentType = 'image/jpeg', query = '') =>
    app.inject({ method: 'POST', url: `/api/identities/${id}/faces${query}`, payload: body, headers: { 'content-type': contentType } });

  it('creates identities: 201, then 409 for the same name, 400 for a bad or missing name', async () => {
    expect(await createIdentity('Alice')).toMatchObject({ name: 'Alice', sampleCount: 0 });
    const dup = await app.inject({ method: 'POST', url: '/api/identities', payload: { name: 'alice' } });
    expect(dup.statusCode).toBe(409);
    expect(dup.json()).toMatchObject({ error: 'identity_exists', message: expect.stringContaining('"Alice"') });
    const blank = await app.inject({ method: 'POST', url: '/api/identities', payload: { name: '  ' } });
    expect([blank.statusCode, blank.json().error]).toEqual([400, 'invalid_name']);
    const missing = await app.inject({ method: 'POST', url: '/api/identities', payload: {} });
    expect([missing.statusCode, missing.json().error]).toEqual([400, 'bad_request']);
    expect(missing.json().message).toContain('name');
  });

  it('enrolls a photo: 201, then 200 with duplicate for the same photo; lists and shows it without blobs', async () => {
    const alice = await createIdentity('Alice');
    const created = await postFace(alice.id, single.bytes);
    expect(created.statusCode).toBe(201);
    const body = created.json();
    expect(body).toMatchObject({ duplicate: false, identity: { id: alice.id, name: 'Alice' }, sample: { identityId: alice.id, indexed: true } });
    const again = await postFace(alice.id, single.bytes, 'application/octet-stream');
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ duplicate: true, sample: { id: body.sample.id } });

    const list = await app.inject({ method: 'GET', url: '/api/identities' });
    expect(list.json()).toMatchObject({ identities: [{ id: alice.id, name: 'Alice', sampleCount: 1 }] });

    const shown = await app.inject({ method: 'GET', url: `/api/identities/${alice.id}` });
    expect(shown.statusCode).toBe(200);
    const [sample] = shown.json().samples;
    expect(sample).toMatchObject({ id: body.sample.id, thumbnailUrl: `/api/faces/${body.sample.id}/thumbnail.jpg`, recognizer: { id: 'fake-recognizer', version: 'v1' } });
    expect(Object.keys(sample)).not.toEqual(expect.arrayContaining(['embedding']));
    expect(shown.body.length).toBeLessThan(2000); // no thumbnail, face source or embedding inside

    const thumbnail = await app.inject({ method: 'GET', url: sample.thumbnailUrl });
    expect(thumbnail.statusCode).toBe(200);
    expect(thumbnail.headers['content-type']).toBe('image/jpeg');
    expect((await sharp(thumbnail.rawPayload).metadata()).width).toBe(112);
  });

  it('accepts a photo as base64 JSON too', async () => {
    const alice = await createIdentity('Alice');
    const response = await app.inject({
      method: 'POST',
      url: `/api/identities/${alice.id}/faces`,
      payload: { image: `data:image/jpeg;base64,${single.bytes.toString('base64')}` },
    });
    expect(response.statusCode).toBe(201);
  });

  it('answers every refusal with its status and { error, message }, storing nothing', async () => {
    const alice = await createIdentity('Alice');
    const bob = await createIdentity('Bob');
    const group = await makePhoto(900, 400, [
      { x: 500, y: 100, size: 150, person: 2 },
      { x: 100, y: 100, size: 150, person: 3 },
    ]);
    const tiny = await makePhoto(641, 480, [{ x: 250, y: 100, size: 30, person: 1 }]);
    const faceless = await makePhoto(642, 480, []);
    const huge = await makePhoto(1200, 1200, [{ x: 250, y: 100, size: 180, person: 1 }], { format: 'png' });
    expect(huge.bytes.length).toBeGreaterThan(MAX_BYTES);
    for (const photo of [group, tiny, faceless]) detector.register(photo);
    await postFace(alice.id, single.bytes);
    const samplesBefore = store.countSamples();

    const cases: [Promise<{ statusCode: number; json: () => { error: string; message: string } }>, number, string, RegExp][] = [
      [postFace(alice.id, Buffer.from('definitely not a jpeg')), 415, 'not_an_image', /not in a known image format/],
      [postFace(alice.id, Buffer.from('hello'), 'text/plain'), 415, 'unsupported_media_type', /Content-Type image\/\*.*got text\/plain/],
      [postFace(alice.id, huge.bytes, 'image/png'), 413, 'image_too_large', new RegExp(`gallery.maxImageBytes \\(${MAX_BYTES} bytes\\)`)],
      [postFace(alice.id, faceless.bytes), 422, 'no_face', /no face found/],
      [postFace(alice.id, group.bytes), 422, 'multiple_faces', /shows 2 faces.*\?face=N/s],
      [postFace(alice.id, group.bytes, 'image/jpeg', '?face=5'), 422, 'face_index_out_of_range', /face 5 was asked for/],
      [postFace(alice.id, group.bytes, 'image/jpeg', '?face=-1'), 400, 'bad_request', /face/],
      [postFace(alice.id, tiny.bytes), 422, 'face_too_small', /30 px wide.*\(48 px\)/],
      [postFace(9999, single.bytes), 404, 'identity_not_found', /no identity with id 9999/],
      [postFace(bob.id, single.bytes), 409, 'photo_of_other_identity', /already enrolled as "Alice"/],
      [app.inject({ method: 'POST', url: '/api/identities/abc/faces', payload: single.bytes, headers: { 'content-type': 'image/jpeg' } }), 400, 'bad_request', /id/],
    ];
    for (const [request, status, error, message] of cases) {
      const response = await request;
      expect({ status: response.statusCode, error: response.json().error }).toEqual({ status, error });
      expect(response.json().message).toMatch(message);
    }
    expect(store.countSamples()).toBe(samplesBefore);

    const multiple = (await postFace(alice.id, group.bytes)).json() as unknown as { faces: { index: number; box: { x: number } }[] };
    expect(multiple.faces.map((f) => [f.index, f.box.x])).toEqual([[0, 100], [1, 500]]);

    const chosen = await postFace(alice.id, group.bytes, 'image/jpeg', '?face=1');
    expect(chosen.statusCode).toBe(201);
    expect(chosen.json().sample.box.x).toBe(500);
  });

  it('removes a face (only through its identity) and an identity with its faces, keeping the index in step', async () => {
    const alice = await createIdentity('Alice');
    const bob = await createIdentity('Bob');
    const sampleId = (await postFace(alice.id, single.bytes)).json().sample.id as number;
    expect(index.has(sampleId)).toBe(true);

    const wrongOwner = await app.inject({ method: 'DELETE', url: `/api/identities/${bob.id}/faces/${sampleId}` });
    expect([wrongOwner.statusCode, wrongOwner.json().error]).toEqual([404, 'sample_not_found']);

    const removed = await app.inject({ method: 'DELETE', url: `/api/identities/${alice.id}/faces/${sampleId}` });
    expect(removed.statusCode).toBe(200);
    expect(index.has(sampleId)).toBe(false);
    const gone = await app.inject({ method: 'GET', url: `/api/faces/${sampleId}/thumbnail.jpg` });
    expect([gone.statusCode, gone.json().error]).toEqual([404, 'sample_not_found']);

    const again = (await postFace(alice.id, single.bytes)).json().sample.id as number;
    const deleted = await app.inject({ method: 'DELETE', url: `/api/identities/${alice.id}` });
    expect(deleted.json()).toEqual({ id: alice.id, name: 'Alice', removedSamples: 1 });
    expect(index.has(again)).toBe(false);
    expect(index.size).toBe(0);
    const missing = await app.inject({ method: 'GET', url: `/api/identities/${alice.id}` });
    expect([missing.statusCode, missing.json().error]).toEqual([404, 'identity_not_found']);
    const deleteAgain = await app.inject({ method: 'DELETE', url: `/api/identities/${alice.id}` });
    expect(deleteAgain.statusCode).toBe(404);
  });
});
