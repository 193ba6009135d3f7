// Deleted faces are really gone (issue 19, failure 3): after deleting a sample or an identity through
// the API, none of its bytes (the embedding, the aligned thumbnail JPEG, the face source JPEG) can be
// found in the gallery's file or its write-ahead log, while the service still has the file open.
import { existsSync, readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Enroller } from '../../src/gallery/enroll.ts';
import { GalleryStore } from '../../src/gallery/store.ts';
import { GalleryIndex } from '../../src/match/gallery-index.ts';
import { galleryRoutes } from '../../src/server/routes/gallery.ts';
import { FakeDetector, FakeRecognizer, makePhoto, tempDir, TEST_SETTINGS } from '../unit/gallery-fakes.ts';

/**
 * The bytes that would give a face away, read back from the store before it is deleted: the embedding,
 * and of each JPEG its compressed scan (its headers are the same in every JPEG of a quality).
 */
function faceBytes(store: GalleryStore, recognizer: FakeRecognizer, sampleId: number): Record<string, Buffer> {
  const embedding = store.embeddings(recognizer.id, recognizer.version).find((e) => e.sampleId === sampleId)!.embedding;
  const scan = (jpeg: Buffer) => jpeg.subarray(jpeg.indexOf(Buffer.from([0xff, 0xda])) + 16, jpeg.length - 2);
  return {
    embedding: Buffer.from(embedding.buffer, embedding.byteOffset, embedding.byteLength),
    thumbnail: scan(store.thumbnail(sampleId)!),
    faceSource: scan(store.faceSource(sampleId)!.jpeg),
  };
}

/** A large blob is cut across SQLite's overflow pages: it is looked for in pieces of 64 bytes. */
const PIECE = 64;

/** Per kind of bytes, the share of its 64-byte pieces that the database file or its log holds. */
function foundOnDisk(path: string, bytes: Record<string, Buffer>): Record<string, number> {
  const files = [path, `${path}-wal`].filter(existsSync).map((f) => readFileSync(f));
  return Object.fromEntries(
    Object.entries(bytes).map(([what, needle]) => {
      const pieces = Array.from({ length: Math.floor(needle.length / PIECE) }, (_, i) => needle.subarray(i * PIECE, (i + 1) * PIECE));
      const found = pieces.filter((piece) => files.some((content) => content.includes(piece))).length;
      return [what, found / pieces.length];
    }),
  );
}

const nothing = { embedding: 0, thumbnail: 0, faceSource: 0 };
/** Nearly every piece: the few that straddle two overflow pages are split in the file. */
const everything = { embedding: 1, thumbnail: expect.toSatisfy((share: number) => share >= 0.9), faceSource: expect.toSatisfy((share: number) => share >= 0.9) };

describe('erasure of deleted faces', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: GalleryStore;
  let index: GalleryIndex;
  let recognizer: FakeRecognizer;
  let app: ReturnType<typeof Fastify>;
  let detector: FakeDetector;

  beforeEach(async () => {
    tmp = tempDir();
    store = GalleryStore.open(tmp.file('gallery.db'));
    detector = new FakeDetector();
    recognizer = new FakeRecognizer();
    ({ index } = await GalleryIndex.open(store, recognizer));
    app = Fastify();
    await app.register(galleryRoutes({ store, index, enroller: new Enroller({ store, detector, recognizer, settings: TEST_SETTINGS }) }));
  });
  afterEach(async () => {
    await app.close();
    index.close();
    store.close();
    tmp.remove();
  });

  async function enrolled(name: string, person: number, width: number): Promise<{ identityId: number; sampleId: number }> {
    const photo = await makePhoto(width, 480, [{ x: 200, y: 100, size: 200, person }]);
    detector.register(photo);
    const identityId = (await app.inject({ method: 'POST', url: '/api/identities', payload: { name } })).json().id as number;
    const response = await app.inject({ method: 'POST', url: `/api/identities/${identityId}/faces`, payload: photo.bytes, headers: { 'content-type': 'image/jpeg' } });
    expect(response.statusCode).toBe(201);
    return { identityId, sampleId: response.json().sample.id };
  }

  it('DELETE /api/identities/:id leaves none of its faces’ bytes in the file or the log', async () => {
    const ada = await enrolled('Ada', 1, 640);
    const kept = await enrolled('Grace', 2, 641);
    const adaBytes = faceBytes(store, recognizer, ada.sampleId);
    const keptBytes = faceBytes(store, recognizer, kept.sampleId);
    // What the check looks for is there before the deletion (else it could not fail).
    expect(foundOnDisk(store.path, adaBytes)).toEqual(everything);

    expect((await app.inject({ method: 'DELETE', url: `/api/identities/${ada.identityId}` })).statusCode).toBe(200);
    expect(foundOnDisk(store.path, adaBytes)).toEqual(nothing);
    // The other identity's face is still whole.
    expect(foundOnDisk(store.path, keptBytes)).toEqual(everything);
    expect(store.secureDelete()).toBe(1);
  });

  it('DELETE of one face sample leaves none of its bytes behind either', async () => {
    const ada = await enrolled('Ada', 3, 642);
    const bytes = faceBytes(store, recognizer, ada.sampleId);
    expect(foundOnDisk(store.path, bytes)).toEqual(everything);
    expect((await app.inject({ method: 'DELETE', url: `/api/identities/${ada.identityId}/faces/${ada.sampleId}` })).statusCode).toBe(200);
    expect(foundOnDisk(store.path, bytes)).toEqual(nothing);
  });
});
