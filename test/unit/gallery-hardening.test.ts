// The gallery's hardening (issue 19): names that are one person's whatever their spelling, a photo of
// another identity re-encoded, an identity created only with its first photo, face sources kept or not,
// photos decoded shrunk, and a schema upgrade that keeps identities whose names now collide.
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodedSize, decodeImage, Enroller } from '../../src/gallery/enroll.ts';
import { GalleryError } from '../../src/gallery/errors.ts';
import { GalleryIndex } from '../../src/match/gallery-index.ts';
import { GalleryStore, NEAR_DUPLICATE_COSINE, SCHEMA_VERSION } from '../../src/gallery/store.ts';
import { FakeDetector, FakeRecognizer, makePhoto, tempDir, TEST_SETTINGS } from './gallery-fakes.ts';

async function refusal(attempt: Promise<unknown> | (() => unknown)): Promise<GalleryError> {
  const error = await (typeof attempt === 'function' ? Promise.resolve().then(attempt) : attempt).then(
    () => {
      throw new Error('expected a refusal');
    },
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(GalleryError);
  return error as GalleryError;
}

describe('gallery hardening', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: GalleryStore;
  let detector: FakeDetector;
  let recognizer: FakeRecognizer;
  let enroller: Enroller;

  beforeEach(() => {
    tmp = tempDir();
    store = GalleryStore.open(tmp.file('gallery.db'));
    detector = new FakeDetector();
    recognizer = new FakeRecognizer();
    enroller = new Enroller({ store, detector, recognizer, settings: TEST_SETTINGS });
  });
  afterEach(() => {
    store.close();
    tmp.remove();
  });

  it('one identity per person whatever the spelling: case, normal form, invisible characters', async () => {
    const ada = store.createIdentity('Ada Lovelace');
    for (const other of ['ada lovelace', 'Ada\u200b Lovelace', 'Ada Lovelace\u202e', ' Ada  Lovelace'])
      expect((await refusal(() => store.createIdentity(other))).code, JSON.stringify(other)).toBe('identity_exists');
    const jose = store.createIdentity('Jose\u0301');
    expect(jose.name).toBe('Jos\u00e9');
    expect((await refusal(() => store.createIdentity('JOSÉ'))).message).toContain('"José"');
    store.createIdentity('ÅSA');
    expect((await refusal(() => store.createIdentity('åsa'))).code).toBe('identity_exists');
    expect(store.findIdentityByName('ADA\u200d LOVELACE')?.id).toBe(ada.id);
    expect((await refusal(() => store.createIdentity(5))).message).toMatch(/must be a string/);
    expect((await refusal(() => store.createIdentity('Ada \ud800'))).message).toMatch(/surrogate/);
    expect(store.listIdentities().map((i) => i.name).sort()).toEqual(['Ada Lovelace', 'José', 'ÅSA']);
  });

  it('refuses the same photo re-encoded for another identity (409 naming it), not for its own', async () => {
    const photo = await makePhoto(640, 480, [{ x: 250, y: 100, size: 180, person: 1 }], { format: 'png' });
    detector.register(photo);
    const alice = store.createIdentity('Alice');
    const bob = store.createIdentity('Bob');
    const first = await enroller.enroll(alice.id, photo.bytes);
    const reencoded = await sharp(photo.bytes).jpeg({ quality: 90 }).toBuffer();
    expect(reencoded.equals(photo.bytes)).toBe(false);

    const conflict = await refusal(enroller.enroll(bob.id, reencoded));
    expect(conflict).toMatchObject({ code: 'photo_of_other_identity', status: 409, details: { owner: { id: alice.id, name: 'Alice' }, sampleId: first.sample.id } });
    expect(conflict.details.similarity).toBeGreaterThanOrEqual(NEAR_DUPLICATE_COSINE);
    expect(conflict.message).toMatch(/already enrolled as "Alice".*re-encoded/);
    expect(store.listSamples(bob.id)).toEqual([]);
    // The same person may have two encodings of one photo.
    expect((await enroller.enroll(alice.id, reencoded)).duplicate).toBe(false);
    // Another person is not near: enrolled.
    const carol = await makePhoto(641, 480, [{ x: 250, y: 100, size: 180, person: 2 }]);
    detector.register(carol);
    expect((await enroller.enroll(bob.id, carol.bytes)).duplicate).toBe(false);
  });

  it('creates a new identity only together with its first accepted photo', async () => {
    const faceless = await makePhoto(642, 480, []);
    detector.register(faceless);
    expect((await refusal(enroller.enrollNew('Dora', faceless.bytes))).code).toBe('no_face');
    expect(store.listIdentities()).toEqual([]);

    const photo = await makePhoto(643, 480, [{ x: 250, y: 100, size: 180, person: 3 }]);
    detector.register(photo);
    const made = await enroller.enrollNew('Dora', photo.bytes);
    expect(made.identity).toMatchObject({ name: 'Dora', sampleCount: 1 });
    expect(store.listIdentities()).toMatchObject([{ id: made.identity.id, name: 'Dora', sampleCount: 1 }]);
    expect((await refusal(enroller.enrollNew('dora', photo.bytes))).code).toBe('identity_exists');
  });

  it('with keepFaceSources off, keeps no face source but makes the secondary embedding at enrollment', async () => {
    const upper = new FakeRecognizer('upper-v1');
    const lean = new Enroller({ store, detector, recognizer, secondary: upper, settings: { ...TEST_SETTINGS, keepFaceSources: false } });
    const photo = await makePhoto(644, 480, [{ x: 250, y: 100, size: 180, person: 4 }]);
    detector.register(photo);
    const { sample } = await lean.enrollNew('Erin', photo.bytes);
    expect(store.faceSource(sample.id)).toBeUndefined();
    expect(store.thumbnail(sample.id)?.length).toBeGreaterThan(0);
    expect(store.staleSampleIds(upper.id, upper.version)).toEqual([]);
    expect(store.embeddings(upper.id, upper.version).map((e) => e.sampleId)).toEqual([sample.id]);
    const raw = new Database(store.path, { readonly: true });
    expect(raw.prepare('SELECT length(source_jpeg) AS n FROM sample_images').get()).toEqual({ n: 0 });
    raw.close();

    // A recognizer change cannot re-embed it: it is reported, not silently skipped.
    const { index, reembed } = await GalleryIndex.open(store, new FakeRecognizer('v2'));
    index.close();
    expect(reembed).toEqual({ total: 1, reembedded: 0, failed: [sample.id] });
  });

  it('erases the kept face sources and rewrites the file on purge', async () => {
    const photo = await makePhoto(645, 480, [{ x: 250, y: 100, size: 180, person: 5 }]);
    detector.register(photo);
    const { sample } = await enroller.enrollNew('Fay', photo.bytes);
    const source = store.faceSource(sample.id)!.jpeg;
    const report = store.purge({ faceSources: true });
    expect(report.faceSourcesDropped).toBe(1);
    expect(store.faceSource(sample.id)).toBeUndefined();
    expect(store.listSamples(sample.identityId)).toHaveLength(1);
    expect(readFileSync(store.path).includes(source)).toBe(false);
  });

  it('decodes a photo over maxDecodedPixels shrunk, keeping its shape', async () => {
    expect(decodedSize(6000, 6600, 16_000_000)).toEqual({ width: 3813, height: 4195 });
    expect(decodedSize(4000, 3000, 16_000_000)).toBeUndefined();
    const big = await sharp({ create: { width: 3000, height: 2000, channels: 3, background: '#808080' } }).png().toBuffer();
    const image = await decodeImage(big, 40_000_000, 1_500_000);
    expect(image.width * image.height).toBeLessThanOrEqual(1_500_000);
    expect(image.width / image.height).toBeCloseTo(1.5, 2);
    expect(image.data.length).toBe(image.width * image.height * 3);
  });

  it('an upgrade keeps both identities whose names now collide, and rewrites the file once', () => {
    const path = tmp.file('old.db');
    GalleryStore.open(path).close();
    // Back to schema 3 (before name keys and secure_delete), with names that collide by the new rules
    // and a deleted face whose bytes were left in a free page.
    const raw = new Database(path);
    raw.exec('DROP INDEX identities_by_name_key; ALTER TABLE identities DROP COLUMN name_key; PRAGMA user_version = 3; PRAGMA secure_delete = OFF');
    const names = ['ÅSA', 'åsa', 'Jose\u0301', 'José', 'Ada Lovelace', 'Ada\u200b Lovelace'];
    for (const name of names) raw.prepare('INSERT INTO identities (name, created_at) VALUES (?, 0)').run(name);
    const marker = Buffer.from('deleted-face-bytes-'.repeat(200));
    raw.prepare(`INSERT INTO samples (identity_id, image_sha256, box, score, recognizer_id, recognizer_version, embedding, created_at) VALUES (1, 'x', '{}', 1, 'r', 'v', ?, 0)`).run(marker);
    raw.exec('DELETE FROM samples');
    raw.pragma('wal_checkpoint(TRUNCATE)');
    raw.close();
    expect(readFileSync(path).includes(marker)).toBe(true); // what the upgrade must erase

    const upgraded = GalleryStore.open(path);
    try {
      expect(upgraded.listIdentities()).toHaveLength(names.length);
      expect(upgraded.findIdentityByName('åsa')?.id).toBe(1);
      expect(upgraded.findIdentityByName('jose\u0301')?.id).toBe(3);
      expect(upgraded.createIdentity('asa')).toMatchObject({ name: 'asa' });
      expect(() => upgraded.createIdentity('Åsa')).toThrow(/already exists \(id 1\)/);
      expect(upgraded.secureDelete()).toBe(1);
      expect(readFileSync(path).includes(marker)).toBe(false);
    } finally {
      upgraded.close();
    }
    const check = new Database(path, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    check.close();
  });
});
