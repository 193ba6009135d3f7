import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GalleryError } from '../../src/gallery/errors.ts';
import { GalleryStore, SCHEMA_VERSION, type GalleryChange, type NewSample } from '../../src/gallery/store.ts';
import { landmarksFor, tempDir } from './gallery-fakes.ts';

/** A unit vector of its own per identity (a radian apart), so that no two people's photos are near-duplicates. */
function embeddingOf(identityId: number): Float32Array {
  if (identityId === 1) return Float32Array.from([0.6, 0.8, 0]);
  const angle = Math.atan2(0.8, 0.6) + (identityId - 1);
  return Float32Array.from([Math.cos(angle), Math.sin(angle), 0]);
}

function sample(identityId: number, overrides: Partial<NewSample> = {}): NewSample {
  const box = { x: 10, y: 20, width: 100, height: 100 };
  return {
    identityId,
    imageSha256: 'a'.repeat(64),
    box,
    score: 0.9,
    recognizerId: 'rec',
    recognizerVersion: 'v1',
    embedding: embeddingOf(identityId),
    thumbnailJpeg: Buffer.from('thumb'),
    source: { jpeg: Buffer.from('source'), landmarks: landmarksFor(box) },
    ...overrides,
  };
}

function expectGalleryError(fn: () => unknown, code: string, status: number): GalleryError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GalleryError);
    expect((err as GalleryError).code).toBe(code);
    expect((err as GalleryError).status).toBe(status);
    return err as GalleryError;
  }
  throw new Error(`expected a ${code} error`);
}

describe('GalleryStore', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: GalleryStore;
  let path: string;

  beforeEach(() => {
    tmp = tempDir();
    path = tmp.file('nested/dir/gallery.db');
    store = GalleryStore.open(path);
  });
  afterEach(() => {
    store.close();
    tmp.remove();
  });

  it('creates the schema in WAL mode with its version, in a folder it creates', () => {
    const raw = new Database(path, { readonly: true });
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(raw.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      const tables = raw
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .all()
        .map((r) => (r as { name: string }).name);
      expect(tables).toEqual(['identities', 'sample_images', 'samples', 'secondary_embeddings']);
    } finally {
      raw.close();
    }
  });

  it('keeps its data across a reopen and does not migrate twice', () => {
    const alice = store.createIdentity('Alice');
    store.addSample(sample(alice.id));
    store.close();
    store = GalleryStore.open(path);
    expect(store.listIdentities()).toMatchObject([{ id: alice.id, name: 'Alice', sampleCount: 1 }]);
  });

  it('refuses a file of a newer schema, a file that is not SQLite, and (when asked) an absent file', () => {
    store.close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    const newer = expectGalleryError(() => GalleryStore.open(path), 'gallery_unreadable', 500);
    expect(newer.message).toMatch(/schema version \d+ is newer than this unmask knows/);

    const text = tmp.file('notes.db');
    writeFileSync(text, 'these are not the droids you are looking for'.repeat(100));
    expect(expectGalleryError(() => GalleryStore.open(text), 'gallery_unreadable', 500).message).toMatch(/not a SQLite file/);

    const absent = tmp.file('absent.db');
    expect(expectGalleryError(() => GalleryStore.open(absent, { create: false }), 'gallery_not_found', 404).message).toContain(absent);
    store = GalleryStore.open(tmp.file('fresh.db')); // for afterEach
  });

  it('validates names and keeps them unique regardless of case', () => {
    expect(store.createIdentity('  Ada Lovelace ').name).toBe('Ada Lovelace');
    const dup = expectGalleryError(() => store.createIdentity('ada lovelace'), 'identity_exists', 409);
    expect(dup.message).toContain('"Ada Lovelace"');
    expect(store.findIdentityByName('ADA LOVELACE')?.name).toBe('Ada Lovelace');
    expectGalleryError(() => store.createIdentity('   '), 'invalid_name', 400);
    expectGalleryError(() => store.createIdentity('two\nlines'), 'invalid_name', 400);
    expectGalleryError(() => store.createIdentity('x'.repeat(101)), 'invalid_name', 400);
    expect(store.listIdentities()).toHaveLength(1);
  });

  it('round-trips embeddings exactly and lists samples without their images', () => {
    const alice = store.createIdentity('Alice');
    const embedding = Float32Array.from({ length: 128 }, (_, i) => Math.sin(i) / 7);
    const { sample: stored, duplicate } = store.addSample(sample(alice.id, { embedding }));
    expect(duplicate).toBe(false);
    const [loaded] = store.embeddings('rec', 'v1');
    expect(loaded.identity).toEqual({ id: alice.id, name: 'Alice' });
    expect(Array.from(loaded.embedding)).toEqual(Array.from(embedding));
    expect(store.embeddings('rec', 'v2')).toEqual([]);
    expect(Object.keys(store.listSamples(alice.id)[0]).sort()).toEqual(
      ['box', 'createdAt', 'id', 'identityId', 'imageSha256', 'recognizerId', 'recognizerVersion', 'score'].sort(),
    );
    expect(store.thumbnail(stored.id)?.toString()).toBe('thumb');
    expect(store.faceSource(stored.id)?.landmarks).toEqual(landmarksFor(stored.box));
  });

  it('stores the same photo once per identity, and refuses the same face for another identity', () => {
    const alice = store.createIdentity('Alice');
    const bob = store.createIdentity('Bob');
    const first = store.addSample(sample(alice.id));
    const again = store.addSample(sample(alice.id, { box: { x: 300, y: 20, width: 90, height: 90 } }));
    expect(again).toEqual({ sample: first.sample, duplicate: true });
    expect(store.countSamples()).toBe(1);

    const conflict = expectGalleryError(() => store.addSample(sample(bob.id)), 'photo_of_other_identity', 409);
    expect(conflict.message).toContain('"Alice"');
    expect(conflict.details.owner).toEqual({ id: alice.id, name: 'Alice' });
    expect(store.countSamples()).toBe(1);

    // Another face of the same (group) photo may be someone else.
    const other = store.addSample(sample(bob.id, { box: { x: 300, y: 20, width: 90, height: 90 } }));
    expect(other.duplicate).toBe(false);
    expect(store.countSamples()).toBe(2);
  });

  it('refuses a sample for an unknown identity', () => {
    expectGalleryError(() => store.addSample(sample(42)), 'identity_not_found', 404);
    expect(store.countSamples()).toBe(0);
  });

  it('deletes an identity with its samples and their images (foreign keys on)', () => {
    const alice = store.createIdentity('Alice');
    const bob = store.createIdentity('Bob');
    const a1 = store.addSample(sample(alice.id, { imageSha256: '1'.repeat(64) })).sample;
    const a2 = store.addSample(sample(alice.id, { imageSha256: '2'.repeat(64) })).sample;
    store.addSample(sample(bob.id, { imageSha256: '3'.repeat(64) }));
    const removed = store.deleteIdentity(alice.id);
    expect(removed.sampleIds.sort()).toEqual([a1.id, a2.id].sort());
    expect(store.countSamples()).toBe(1);
    expect(store.thumbnail(a1.id)).toBeUndefined();
    expect(store.faceSource(a2.id)).toBeUndefined();
    expectGalleryError(() => store.deleteIdentity(alice.id), 'identity_not_found', 404);
  });

  it('deletes a sample only through its own identity, and never reuses ids', () => {
    const alice = store.createIdentity('Alice');
    const bob = store.createIdentity('Bob');
    const s = store.addSample(sample(alice.id)).sample;
    expectGalleryError(() => store.deleteSample(bob.id, s.id), 'sample_not_found', 404);
    expect(store.deleteSample(alice.id, s.id).id).toBe(s.id);
    expectGalleryError(() => store.deleteSample(alice.id, s.id), 'sample_not_found', 404);
    expect(store.addSample(sample(alice.id)).sample.id).toBeGreaterThan(s.id);
  });

  it('announces committed changes, and only those', () => {
    const changes: GalleryChange[] = [];
    store.onChange((c) => changes.push(c));
    const alice = store.createIdentity('Alice');
    const s = store.addSample(sample(alice.id)).sample;
    store.addSample(sample(alice.id)); // duplicate: nothing new
    expect(() => store.addSample(sample(99))).toThrow(GalleryError);
    expect(store.updateEmbedding(s.id, 'rec', 'v2', Float32Array.from([1, 0, 0]))).toBe(true);
    store.deleteIdentity(alice.id);
    expect(changes.map((c) => c.type)).toEqual(['sample-embedded', 'sample-embedded', 'samples-removed']);
    expect(changes[1]).toMatchObject({ sampleId: s.id, recognizerVersion: 'v2', identity: { name: 'Alice' } });
    expect(changes[2]).toEqual({ type: 'samples-removed', sampleIds: [s.id] });
  });

  it('lists stale samples and sees commits of another connection', () => {
    const alice = store.createIdentity('Alice');
    const s1 = store.addSample(sample(alice.id, { imageSha256: '1'.repeat(64) })).sample;
    store.addSample(sample(alice.id, { imageSha256: '2'.repeat(64), recognizerVersion: 'v2' }));
    expect(store.staleSampleIds('rec', 'v2')).toEqual([s1.id]);

    const before = store.externalDataVersion();
    store.createIdentity('Carol'); // own commits do not count
    expect(store.externalDataVersion()).toBe(before);
    const other = GalleryStore.open(path);
    other.createIdentity('Bob');
    other.close();
    expect(store.externalDataVersion()).not.toBe(before);
  });

  it('keeps secondary embeddings beside the main one, each recognizer its own, deleted with their sample', () => {
    const alice = store.createIdentity('Alice');
    const s1 = store.addSample(sample(alice.id, { imageSha256: '1'.repeat(64) })).sample;
    const s2 = store.addSample(sample(alice.id, { imageSha256: '2'.repeat(64) })).sample;
    const changes: GalleryChange[] = [];
    store.onChange((c) => changes.push(c));
    expect(store.staleSampleIds('upper', 'u1')).toEqual([s1.id, s2.id]);

    expect(store.updateEmbedding(s1.id, 'upper', 'u1', Float32Array.from([0, 0, 1]), true)).toBe(true);
    expect(store.staleSampleIds('upper', 'u1')).toEqual([s2.id]);
    expect(store.staleSampleIds('rec', 'v1')).toEqual([]); // the main embeddings are untouched
    expect(store.embeddings('rec', 'v1').map((e) => [e.sampleId, Array.from(e.embedding)])).toEqual([
      [s1.id, [expect.closeTo(0.6, 6), expect.closeTo(0.8, 6), 0]],
      [s2.id, [expect.closeTo(0.6, 6), expect.closeTo(0.8, 6), 0]],
    ]);
    expect(store.embeddings('upper', 'u1').map((e) => [e.sampleId, Array.from(e.embedding)])).toEqual([[s1.id, [0, 0, 1]]]);
    expect(changes).toEqual([expect.objectContaining({ type: 'sample-embedded', sampleId: s1.id, recognizerId: 'upper', secondary: true })]);

    // A new version replaces the old one; a vanished sample gets none.
    expect(store.updateEmbedding(s1.id, 'upper', 'u2', Float32Array.from([0, 1, 0]), true)).toBe(true);
    expect(store.embeddings('upper', 'u1')).toEqual([]);
    expect(store.staleSampleIds('upper', 'u2')).toEqual([s2.id]);
    expect(store.updateEmbedding(999, 'upper', 'u2', Float32Array.from([0, 1, 0]), true)).toBe(false);

    store.deleteSample(alice.id, s1.id);
    expect(store.embeddings('upper', 'u2')).toEqual([]);
  });
});
