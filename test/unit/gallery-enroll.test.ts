import Database from 'better-sqlite3';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeImage, dominantFace, Enroller, faceSourceRegion, THUMBNAIL_TEMPLATE } from '../../src/gallery/enroll.ts';
import { GalleryError } from '../../src/gallery/errors.ts';
import { GalleryIndex } from '../../src/match/gallery-index.ts';
import { GalleryStore } from '../../src/gallery/store.ts';
import { FakeDetector, FakeRecognizer, landmarksFor, makePhoto, tempDir, TEST_SETTINGS } from './gallery-fakes.ts';

describe('Enroller', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: GalleryStore;
  let index: GalleryIndex;
  let detector: FakeDetector;
  let recognizer: FakeRecognizer;
  let enroller: Enroller;

  beforeEach(async () => {
    tmp = tempDir();
    store = GalleryStore.open(tmp.file('gallery.db'));
    detector = new FakeDetector();
    recognizer = new FakeRecognizer();
    enroller = new Enroller({ store, detector, recognizer, settings: TEST_SETTINGS });
    ({ index } = await GalleryIndex.open(store, recognizer));
  });
  afterEach(() => {
    index.close();
    store.close();
    tmp.remove();
  });

  /** Rows of every table, read by a separate connection: what is really on disk. */
  function rowCounts(): Record<string, number> {
    const raw = new Database(store.path, { readonly: true });
    try {
      return Object.fromEntries(
        ['identities', 'samples', 'sample_images'].map((t) => [t, (raw.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n]),
      );
    } finally {
      raw.close();
    }
  }

  async function expectRefusal(attempt: Promise<unknown>, code: string, status: number): Promise<GalleryError> {
    const before = rowCounts();
    const error = await attempt.then(
      () => {
        throw new Error(`expected a ${code} refusal, but the photo was enrolled`);
      },
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(GalleryError);
    expect((error as GalleryError).code).toBe(code);
    expect((error as GalleryError).status).toBe(status);
    expect(rowCounts()).toEqual(before);
    return error as GalleryError;
  }

  it('stores one face: embedding, aligned thumbnail, face source, hash; and the index has it', async () => {
    const alice = store.createIdentity('Alice');
    const photo = await makePhoto(640, 480, [{ x: 250, y: 100, size: 180, person: 1 }]);
    detector.register(photo);
    const result = await enroller.enroll(alice.id, photo.bytes);

    expect(result.duplicate).toBe(false);
    expect(result.identity).toEqual({ id: alice.id, name: 'Alice' });
    expect(result.sample).toMatchObject({
      identityId: alice.id,
      box: photo.faces[0].box,
      score: photo.faces[0].score,
      recognizerId: recognizer.id,
      recognizerVersion: 'v1',
    });
    expect(result.sample.imageSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(rowCounts()).toEqual({ identities: 1, samples: 1, sample_images: 1 });

    const [stored] = store.embeddings(recognizer.id, 'v1');
    const norm = Math.hypot(...stored.embedding);
    expect(norm).toBeCloseTo(1, 5);
    expect(index.search(stored.embedding, 1)[0]).toMatchObject({ sampleId: result.sample.id, score: expect.closeTo(1, 5) });

    const thumbnail = await sharp(store.thumbnail(result.sample.id)!).metadata();
    expect([thumbnail.format, thumbnail.width, thumbnail.height]).toEqual(['jpeg', THUMBNAIL_TEMPLATE.size, THUMBNAIL_TEMPLATE.size]);

    const source = store.faceSource(result.sample.id)!;
    const meta = await sharp(source.jpeg).metadata();
    expect(meta.format).toBe('jpeg');
    expect(Math.max(meta.width, meta.height)).toBeLessThanOrEqual(400);
    // The region keeps 0.6 × the box's side around it (the landmarks lie inside the box here)…
    const region = faceSourceRegion(photo.faces[0], 640, 480);
    expect(region).toEqual({ x: 250 - 108, y: 0, width: 180 + 2 * 108, height: 100 + 180 + 108 });
    // …and the landmarks move with it.
    expect(source.landmarks[33].x).toBeCloseTo(photo.faces[0].landmarks[33].x - region.x, 6);
    expect(source.landmarks).toHaveLength(68);
  });

  it('stores the same photo once for the same identity, without running the models again', async () => {
    const alice = store.createIdentity('Alice');
    const photo = await makePhoto(641, 480, [{ x: 250, y: 100, size: 180, person: 1 }]);
    detector.register(photo);
    const first = await enroller.enroll(alice.id, photo.bytes);
    const calls = detector.calls;
    const again = await enroller.enroll(alice.id, photo.bytes);
    expect(again).toEqual({ identity: first.identity, sample: first.sample, duplicate: true });
    expect(detector.calls).toBe(calls);
    expect(rowCounts().samples).toBe(1);
  });

  it('refuses the same face of the same photo for another identity, naming the owner', async () => {
    const alice = store.createIdentity('Alice');
    const bob = store.createIdentity('Bob');
    const photo = await makePhoto(642, 480, [{ x: 250, y: 100, size: 180, person: 1 }]);
    detector.register(photo);
    await enroller.enroll(alice.id, photo.bytes);
    const error = await expectRefusal(enroller.enroll(bob.id, photo.bytes), 'photo_of_other_identity', 409);
    expect(error.message).toContain('"Alice"');
  });

  it('enrolls different faces of one group photo as different people, numbered left to right', async () => {
    const alice = store.createIdentity('Alice');
    const bob = store.createIdentity('Bob');
    // Detector order is by score; the right-hand face scores higher.
    const photo = await makePhoto(900, 400, [
      { x: 500, y: 100, size: 150, person: 2, score: 0.99 },
      { x: 100, y: 100, size: 150, person: 1, score: 0.8 },
    ]);
    detector.register(photo);
    const left = await enroller.enroll(alice.id, photo.bytes, { faceIndex: 0 });
    const right = await enroller.enroll(bob.id, photo.bytes, { faceIndex: 1 });
    expect(left.sample.box.x).toBe(100);
    expect(right.sample.box.x).toBe(500);
    expect(rowCounts().samples).toBe(2);
  });

  it('refuses a photo with several faces unless told which, listing each face', async () => {
    const alice = store.createIdentity('Alice');
    const photo = await makePhoto(901, 400, [
      { x: 500, y: 100, size: 150, person: 2, score: 0.99 },
      { x: 100, y: 120, size: 140, person: 1, score: 0.8 },
    ]);
    detector.register(photo);
    const error = await expectRefusal(enroller.enroll(alice.id, photo.bytes), 'multiple_faces', 422);
    expect(error.details.faces).toEqual([
      { index: 0, box: { x: 100, y: 120, width: 140, height: 140 }, score: 0.8 },
      { index: 1, box: { x: 500, y: 100, width: 150, height: 150 }, score: 0.99 },
    ]);
    expect(error.message).toContain('face 0: 140×140 px at (100, 120), score 0.80');
    expect(error.message).toContain('face 1: 150×150 px at (500, 100), score 0.99');

    const outOfRange = await expectRefusal(enroller.enroll(alice.id, photo.bytes, { faceIndex: 2 }), 'face_index_out_of_range', 422);
    expect(outOfRange.message).toMatch(/face 2 was asked for, but the image shows 2 faces/);
    await expectRefusal(enroller.enroll(alice.id, photo.bytes, { faceIndex: -1 }), 'face_index_out_of_range', 422);
  });

  it('takes the face that dominates a photo (twice the area of any other, nearest the centre) and says so', async () => {
    const alice = store.createIdentity('Alice');
    const photo = await makePhoto(600, 400, [
      { x: 200, y: 100, size: 200, person: 1, score: 0.95 },
      { x: 520, y: 20, size: 60, person: 2, score: 0.9 },
    ]);
    detector.register(photo);
    const result = await enroller.enroll(alice.id, photo.bytes);
    expect(result.sample.box).toEqual({ x: 200, y: 100, width: 200, height: 200 });
    expect(result.chosen?.face.index).toBe(0);
    expect(result.chosen?.faces).toHaveLength(2);
    expect(result.chosen?.reason).toMatch(/face 0 of 2 taken: the nearest the centre, and every other is under 1\/2 of its area or at the photo's edge/);
  });

  it('takes the central face over a bystander cut by the edge, and does not guess otherwise', () => {
    const box = (x: number, y: number, w: number, h = w) => ({ box: { x, y, width: w, height: h } });
    expect(dominantFace([box(200, 100, 200), box(520, 20, 60)], 600, 400)).toBe(0);
    // LFW's way: a neighbour's face half out of the photo beside the subject, or just inside its border.
    expect(dominantFace([box(-8, 80, 80, 130), box(85, 60, 95, 130)], 250, 250)).toBe(1);
    expect(dominantFace([box(6, 87, 63, 98), box(93, 64, 80, 121)], 250, 250)).toBe(1);
    // Two whole faces of a like size: a pair photo.
    expect(dominantFace([box(100, 100, 150), box(350, 100, 120)], 600, 400)).toBeUndefined();
    // The central face is itself cut by the edge (a tight crop) and the other is large: no guess.
    expect(dominantFace([box(-10, -10, 300, 200), box(400, 100, 200)], 600, 400)).toBeUndefined();
    expect(dominantFace([box(0, 0, 50)], 600, 400)).toBe(0);
    expect(dominantFace([], 600, 400)).toBeUndefined();
  });

  it('refuses a photo without a face, saying why', async () => {
    const alice = store.createIdentity('Alice');
    const empty = await makePhoto(643, 480, []);
    detector.register(empty);
    await expectRefusal(enroller.enroll(alice.id, empty.bytes), 'no_face', 422);

    const doubtful = await makePhoto(644, 480, [{ x: 250, y: 100, size: 180, person: 1, score: 0.31 }]);
    detector.register(doubtful);
    const error = await expectRefusal(enroller.enroll(alice.id, doubtful.bytes), 'no_face', 422);
    expect(error.message).toContain('1 candidate scored below gallery.minConfidence (0.5), the best 0.31');
  });

  it('refuses a face narrower than minFaceSize, giving its size and the minimum', async () => {
    const alice = store.createIdentity('Alice');
    const photo = await makePhoto(645, 480, [{ x: 250, y: 100, size: 40, person: 1 }]);
    detector.register(photo);
    const error = await expectRefusal(enroller.enroll(alice.id, photo.bytes), 'face_too_small', 422);
    expect(error.message).toContain('40 px wide');
    expect(error.message).toContain('gallery.minFaceSize (48 px)');
  });

  it('refuses what is not a usable image', async () => {
    const alice = store.createIdentity('Alice');
    await expectRefusal(enroller.enroll(alice.id, new Uint8Array()), 'not_an_image', 415);
    const text = await expectRefusal(enroller.enroll(alice.id, Buffer.from('hello, I am not a photo')), 'not_an_image', 415);
    expect(text.message).toContain('not in a known image format');
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64"/></svg>');
    expect((await expectRefusal(enroller.enroll(alice.id, svg), 'not_an_image', 415)).message).toContain('svg is not a photo format');
    const photo = await makePhoto(646, 480, [{ x: 250, y: 100, size: 180, person: 1 }]);
    detector.register(photo);
    const truncated = photo.bytes.subarray(0, Math.floor(photo.bytes.length / 3));
    expect((await expectRefusal(enroller.enroll(alice.id, truncated), 'not_an_image', 415)).message).toContain('cannot be decoded');
  });

  it('refuses images over the byte and pixel limits', async () => {
    const alice = store.createIdentity('Alice');
    const photo = await makePhoto(647, 480, [{ x: 250, y: 100, size: 180, person: 1 }]);
    detector.register(photo);
    const small = new Enroller({ store, detector, recognizer, settings: { ...TEST_SETTINGS, maxImageBytes: 1000 } });
    const bytes = await expectRefusal(small.enroll(alice.id, photo.bytes), 'image_too_large', 413);
    expect(bytes.message).toContain(`${photo.bytes.length} bytes, more than gallery.maxImageBytes (1000)`);
    const fewPixels = new Enroller({ store, detector, recognizer, settings: { ...TEST_SETTINGS, maxImagePixels: 100_000 } });
    const pixels = await expectRefusal(fewPixels.enroll(alice.id, photo.bytes), 'image_too_large', 413);
    expect(pixels.message).toContain('647×480 = 310560 pixels, more than gallery.maxImagePixels (100000)');
  });

  it('refuses an unknown identity', async () => {
    const photo = await makePhoto(648, 480, [{ x: 250, y: 100, size: 180, person: 1 }]);
    detector.register(photo);
    expect((await expectRefusal(enroller.enroll(77, photo.bytes), 'identity_not_found', 404)).message).toContain('77');
  });

  it('detects on a shrunk copy of a large photo but stores the face in full-resolution pixels', async () => {
    const alice = store.createIdentity('Alice');
    const photo = await makePhoto(3000, 1000, [{ x: 1200, y: 300, size: 300, person: 3 }]);
    const scale = 2048 / 3000;
    const shrunkBox = { x: 1200 * scale, y: 300 * scale, width: 300 * scale, height: 300 * scale };
    detector.register({ width: 2048, height: 683, faces: [{ box: shrunkBox, score: 0.9, landmarks: landmarksFor(shrunkBox) }] });
    const { sample } = await enroller.enroll(alice.id, photo.bytes);
    expect(sample.box.x).toBeCloseTo(1200, 6);
    expect(sample.box.width).toBeCloseTo(300, 6);
  });
});

describe('decodeImage', () => {
  it('returns RGB for grey and transparent images and applies the EXIF orientation', async () => {
    const grey = await sharp({ create: { width: 30, height: 20, channels: 3, background: '#808080' } }).toColourspace('b-w').jpeg().toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    const decodedGrey = await decodeImage(grey, 1e6);
    expect([decodedGrey.width, decodedGrey.height, decodedGrey.data.length]).toEqual([30, 20, 30 * 20 * 3]);

    const transparent = await sharp({ create: { width: 4, height: 4, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    expect(Array.from((await decodeImage(transparent, 1e6)).data.subarray(0, 3))).toEqual([255, 255, 255]);

    // Orientation 6: the camera was turned; the stored 30×20 pixels show a 20×30 upright photo.
    const turned = await sharp({ create: { width: 30, height: 20, channels: 3, background: '#336699' } })
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toBuffer();
    expect((await sharp(turned).metadata()).orientation).toBe(6);
    const upright = await decodeImage(turned, 1e6);
    expect([upright.width, upright.height]).toEqual([20, 30]);
  });
});
