// The events API and feedback, with the gallery's test doubles: attempts and alerts recorded from a
// frame, listed and served with their crops; "this is X" enrolls the face source as an upload would
// be, "not X" makes a negative sample that stops the name, "new person" leaves nothing behind when
// refused; deleting an identity deletes its events.
import Fastify, { type FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FeedbackService } from '../../src/events/feedback.ts';
import { EventRecorder } from '../../src/events/recorder.ts';
import { EventStore } from '../../src/events/store.ts';
import { alertPayload } from '../../src/alert/payload.ts';
import { Enroller } from '../../src/gallery/enroll.ts';
import { GalleryStore } from '../../src/gallery/store.ts';
import { GalleryIndex } from '../../src/match/gallery-index.ts';
import type { RecognitionAttempt, TrackDecision } from '../../src/pipeline/messages.ts';
import { eventRoutes } from '../../src/server/routes/events.ts';
import { galleryRoutes } from '../../src/server/routes/gallery.ts';
import type { DetectedFace, RgbImage } from '../../src/types.ts';
import { FakeDetector, FakeRecognizer, makePhoto, tempDir, TEST_SETTINGS } from './gallery-fakes.ts';

async function rgb(bytes: Buffer): Promise<RgbImage> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

describe('events routes and feedback', () => {
  let tmp: ReturnType<typeof tempDir>;
  let gallery: GalleryStore;
  let events: EventStore;
  let recorder: EventRecorder;
  let index: GalleryIndex;
  let detector: FakeDetector;
  let recognizer: FakeRecognizer;
  let app: FastifyInstance;
  let frame: RgbImage;
  let face: DetectedFace;
  let smallFace: DetectedFace;

  beforeEach(async () => {
    tmp = tempDir();
    gallery = GalleryStore.open(tmp.file('gallery.db'));
    events = EventStore.open(tmp.file('events.db'));
    recorder = new EventRecorder(events, { queue: 16, keepAttempts: 50 });
    detector = new FakeDetector();
    recognizer = new FakeRecognizer();
    const enroller = new Enroller({ store: gallery, detector, recognizer, settings: TEST_SETTINGS });
    ({ index } = await GalleryIndex.open(gallery, recognizer, { negativeMargin: 0.05 }));
    app = Fastify();
    await app.register(galleryRoutes({ store: gallery, index, enroller, onIdentityDeleted: (id) => events.deleteIdentity(id) }));
    await app.register(eventRoutes({ events, feedback: new FeedbackService({ events, gallery, enroller }) }));
    const photo = await makePhoto(640, 360, [
      { x: 220, y: 90, size: 150, person: 3 },
      { x: 520, y: 20, size: 40, person: 4 },
    ]);
    frame = await rgb(photo.bytes);
    [face, smallFace] = [...photo.faces].sort((a, b) => b.box.width - a.box.width);
  });
  afterEach(async () => {
    await app.close();
    await recorder.close();
    index.close();
    events.close();
    gallery.close();
    tmp.remove();
  });

  const crop = (): RgbImage => ({ width: 128, height: 128, data: new Uint8Array(128 * 128 * 3).fill(100) });
  const observation = (f: DetectedFace, trackId = 1) => ({ camera: 'door', frameSeq: 1, frameTime: Date.now(), trackId, face: f, quality: 0.9 });

  /** Records an attempt of a face and registers its face source with the fake detector, as a real one would find it. */
  async function recordAttempt(f: DetectedFace = face, closest: RecognitionAttempt['closest'] = null): Promise<number> {
    recorder.attempt({ observation: observation(f), closest, score: 0.1, known: false, matchedOn: 'face', crop: crop(), frameImage: frame, votes: 1 });
    await recorder.flush();
    const [stored] = events.list({ kind: 'attempt', limit: 1 }).events;
    const source = events.source(stored.id)!;
    const { width = 0, height = 0 } = await sharp(source.jpeg).metadata();
    detector.register({ width, height, faces: [{ box: source.box, score: 0.95, landmarks: source.landmarks }] });
    return stored.id;
  }

  const feedback = (id: number, body: Record<string, unknown>) => app.inject({ method: 'POST', url: `/api/events/${id}/feedback`, payload: body });

  it('lists an attempt with its crops, and serves them', async () => {
    const id = await recordAttempt();
    const list = await app.inject({ url: '/api/events?kind=attempt' });
    expect(list.statusCode).toBe(200);
    const body = list.json();
    expect(body.nextCursor).toBeNull();
    expect(body.events).toHaveLength(1);
    expect(body.events[0]).toMatchObject({
      id, kind: 'attempt', camera: 'door', identity: null, known: false, score: 0.1,
      images: { face: `/api/events/${id}/face.jpg`, source: `/api/events/${id}/source.jpg` },
    });
    expect(body.events[0].images).not.toHaveProperty('inpainted');
    const jpeg = await app.inject({ url: `/api/events/${id}/face.jpg` });
    expect([jpeg.statusCode, jpeg.headers['content-type']]).toEqual([200, 'image/jpeg']);
    expect(jpeg.rawPayload.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    const source = await sharp((await app.inject({ url: `/api/events/${id}/source.jpg` })).rawPayload).metadata();
    // The face with a margin (0.6 of its side each way), from the frame as it came.
    expect(source.width).toBe(Math.round(150 * 2.2));
    expect((await app.inject({ url: `/api/events/${id}/inpainted.jpg` })).json()).toMatchObject({ error: 'image_not_found' });
    expect((await app.inject({ url: '/api/events' })).json().events).toEqual([]); // alerts by default
  });

  it('records an alert with its repaired crop and mask', async () => {
    const occlusion = { fraction: 0.4, belowEyes: true, inpainted: crop(), mask: new Uint8Array(128 * 128).fill(1, 0, 64 * 128) };
    const decision: TrackDecision = {
      identification: { observation: observation(face), identity: { id: 1, name: 'Ada' }, score: 0.9, crop: crop(), embedding: new Float32Array(3) },
      votes: 2, occlusion, matchedOn: 'upper-face', frameImage: frame,
    };
    recorder.alert(await alertPayload(decision), decision);
    await recorder.flush();
    const [event] = (await app.inject({ url: '/api/events?known=true&camera=door' })).json().events;
    expect(event).toMatchObject({ kind: 'alert', identity: { id: 1, name: 'Ada' }, known: true, matchedOn: 'upper-face', occludedFraction: 0.4 });
    expect(Object.keys(event.images).sort()).toEqual(['face', 'inpainted', 'mask', 'source']);
    const mask = await sharp((await app.inject({ url: event.images.mask })).rawPayload).metadata();
    expect([mask.format, mask.width]).toEqual(['png', 128]);
  });

  it('"this is X" enrolls the face source as a photo of X; the same face then matches X', async () => {
    const ada = gallery.createIdentity('Ada');
    const id = await recordAttempt();
    const res = await feedback(id, { action: 'is', identityId: ada.id });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ feedback: { action: 'is', identity: { id: ada.id, name: 'Ada' } }, duplicate: false, event: { id, feedback: { action: 'is' } } });
    expect(gallery.getIdentity(ada.id)!.sampleCount).toBe(1);
    // The sample is the face source's face (not the repaired one); a live crop of it matches.
    const source = events.source(id)!;
    const [embedding] = await recognizer.embed([(await import('../../src/align/warp.ts')).alignToTemplate(await rgb(source.jpeg), source.landmarks, recognizer.template).crop]);
    expect(index.search(embedding, 1)[0]).toMatchObject({ identity: { name: 'Ada' }, score: expect.closeTo(1, 2) });
    // Twice: the same photo, nothing new.
    expect((await feedback(id, { action: 'is', identityId: ada.id })).json()).toMatchObject({ duplicate: true });
  });

  it('"not X" stores a negative sample of X that stops the name, and the reverse feedback replaces it', async () => {
    const ada = gallery.createIdentity('Ada');
    const id = await recordAttempt(face, { id: ada.id, name: 'Ada' });
    await feedback(id, { action: 'is', identityId: ada.id });
    const source = events.source(id)!;
    const { alignToTemplate } = await import('../../src/align/warp.ts');
    const [embedding] = await recognizer.embed([alignToTemplate(await rgb(source.jpeg), source.landmarks, recognizer.template).crop]);
    expect(index.search(embedding, 1)[0]?.identity.name).toBe('Ada');

    const res = await feedback(id, { action: 'not' }); // the event's own name
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ feedback: { action: 'not', identity: { name: 'Ada' } }, replacedSampleId: expect.any(Number) });
    const shown = (await app.inject({ url: `/api/identities/${ada.id}` })).json();
    expect(shown.samples).toHaveLength(0);
    expect(shown.negatives).toHaveLength(1);
    expect(index.search(embedding, 1)).toEqual([]);
  });

  it('"new person" creates the identity with the face; a refused face leaves no identity behind', async () => {
    const id = await recordAttempt();
    const res = await feedback(id, { action: 'new', name: 'Grace Hopper' });
    expect(res.statusCode).toBe(201);
    const grace = gallery.findIdentityByName('Grace Hopper')!;
    expect(grace.sampleCount).toBe(1);
    expect(res.json().feedback).toMatchObject({ action: 'new', identity: { id: grace.id } });

    const small = await recordAttempt(smallFace);
    const refused = await feedback(small, { action: 'new', name: 'Too Small' });
    expect([refused.statusCode, refused.json().error]).toEqual([422, 'face_too_small']);
    expect(gallery.findIdentityByName('Too Small')).toBeUndefined();
    // An existing name is refused as an upload's identity would be.
    expect((await feedback(id, { action: 'new', name: 'grace hopper' })).json().error).toBe('identity_exists');
  });

  it('answers bad requests with the reason', async () => {
    const id = await recordAttempt();
    const cases: [string, number, string][] = [];
    const check = async (res: Awaited<ReturnType<typeof feedback>>, status: number, error: string) => cases.push([res.json().error, res.statusCode, `${status} ${error}`]);
    await check(await feedback(999, { action: 'not', identityId: 1 }), 404, 'event_not_found');
    await check(await feedback(id, { action: 'is' }), 400, 'bad_request');
    await check(await feedback(id, { action: 'not' }), 400, 'no_identity');
    await check(await feedback(id, { action: 'is', identityId: 77 }), 404, 'identity_not_found');
    await check(await feedback(id, { action: 'maybe' }), 400, 'bad_request');
    await check(await app.inject({ url: '/api/events?since=yesterday' }), 400, 'bad_request');
    await check(await app.inject({ url: '/api/events?cursor=abc' }), 400, 'bad_request');
    await check(await app.inject({ url: '/api/events?colour=red' }), 400, 'bad_request');
    await check(await app.inject({ url: '/api/events?limit=5000' }), 400, 'bad_request');
    await check(await app.inject({ url: '/api/events/999' }), 404, 'event_not_found');
    await check(await app.inject({ url: '/api/events/999/face.jpg' }), 404, 'event_not_found');
    expect(cases.map(([error, status]) => `${status} ${error}`)).toEqual(cases.map(([, , want]) => want));
    expect((await app.inject({ url: '/api/events?kind=attempt&since=2000-01-01T00:00:00Z&until=' + Date.now() * 2 })).json().events).toHaveLength(1);
  });

  it('deleting an identity deletes its events', async () => {
    const ada = gallery.createIdentity('Ada');
    const id = await recordAttempt(face, { id: ada.id, name: 'Ada' });
    const other = await recordAttempt(face, null);
    const res = await app.inject({ method: 'DELETE', url: `/api/identities/${ada.id}` });
    expect(res.statusCode).toBe(200);
    expect((await app.inject({ url: `/api/events/${id}` })).statusCode).toBe(404);
    expect((await app.inject({ url: `/api/events/${other}` })).statusCode).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: `/api/events/${other}` })).json()).toEqual({ id: other, deleted: true });
    expect((await app.inject({ url: `/api/events/${other}` })).statusCode).toBe(404);
  });

  it('drops what is beyond its queue, and never makes the caller wait', async () => {
    const small = new EventRecorder(events, { queue: 2, keepAttempts: 50 });
    const started = performance.now();
    for (let i = 0; i < 6; i++)
      small.attempt({ observation: observation(face, 10 + i), closest: null, score: 0, known: false, matchedOn: 'face', crop: crop(), frameImage: frame, votes: 1 });
    expect(performance.now() - started).toBeLessThan(50);
    expect(small.backlog).toBe(2);
    await small.close();
    expect(events.count('attempt')).toBe(2);
  });
});
