// The gallery's suite against both stores, through the one interface (src/gallery/gallery.ts): SQLite
// (a file) and PostgreSQL (Debian's, started here on a free port). The same cases, the same answers;
// then what only a shared database does: another process's commits reaching an index (SQLite's poll,
// PostgreSQL's notifications, also after the listening connection was cut), and `gallery migrate`.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GalleryError } from '../../src/gallery/errors.ts';
import { Enroller } from '../../src/gallery/enroll.ts';
import type { Gallery } from '../../src/gallery/gallery.ts';
import { migrateGallery } from '../../src/gallery/migrate.ts';
import { PostgresGallery } from '../../src/gallery/postgres.ts';
import { GalleryStore, type GalleryChange, type NewSample } from '../../src/gallery/store.ts';
import { GalleryIndex } from '../../src/match/gallery-index.ts';
import { SecondaryGallery } from '../../src/match/secondary-index.ts';
import { havePostgres, noPostgresReason, PostgresServer } from '../support/postgres.ts';
import { FakeDetector, FakeRecognizer, landmarksFor, makePhoto, tempDir, TEST_SETTINGS } from '../unit/gallery-fakes.ts';

if (!havePostgres) console.warn(`gallery on PostgreSQL: skipped, ${noPostgresReason} (the SQLite half runs)`);

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

async function expectGalleryError(work: () => unknown, code: string, status: number): Promise<GalleryError> {
  try {
    await work();
  } catch (err) {
    expect(err).toBeInstanceOf(GalleryError);
    expect((err as GalleryError).code).toBe(code);
    expect((err as GalleryError).status).toBe(status);
    return err as GalleryError;
  }
  throw new Error(`expected a ${code} error`);
}

const waitFor = async (check: () => boolean, timeoutMs: number, what: string): Promise<number> => {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
};

/** A fresh empty gallery, and a way to open it again as another process would. */
interface Backend {
  open(): Promise<Gallery>;
  /** Another connection to the same gallery (another process). */
  openAnother(): Promise<Gallery>;
  cleanup(): Promise<void>;
}

/** What stands for a recognizer whose samples are all current (nothing to re-embed). */
const currentRecognizer = { id: 'rec', version: 'v1', dims: 3, template: new FakeRecognizer().template, embed: async () => [] };

let postgres: PostgresServer | undefined;
let databases = 0;

beforeAll(async () => {
  if (havePostgres) postgres = await PostgresServer.start();
}, 60_000);

afterAll(async () => {
  await postgres?.close();
});

const backends: [string, boolean, () => Promise<Backend>][] = [
  [
    'SQLite',
    true,
    async () => {
      const tmp = tempDir();
      const path = tmp.file('gallery.db');
      return { open: async () => GalleryStore.open(path), openAnother: async () => GalleryStore.open(path), cleanup: async () => tmp.remove() };
    },
  ],
  [
    'PostgreSQL',
    havePostgres,
    async () => {
      const name = `gallery_${++databases}`;
      const admin = new pg.Client(postgres!.url());
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      return { open: () => PostgresGallery.connect(postgres!.url(name)), openAnother: () => PostgresGallery.connect(postgres!.url(name)), cleanup: async () => undefined };
    },
  ],
];

describe.each(backends)('the gallery on %s', (_name, available, make) => {
  let backend: Backend;
  let store: Gallery;
  const opened: Gallery[] = [];

  beforeEach(async () => {
    if (!available) return;
    backend = await make();
    store = await backend.open();
    opened.push(store);
  });

  afterEach(async () => {
    for (const g of opened.splice(0)) await g.close();
    await backend?.cleanup();
  });

  const test = available ? it : it.skip;

  test('validates names and keeps them unique regardless of case', async () => {
    expect((await store.createIdentity('  Ada Lovelace ')).name).toBe('Ada Lovelace');
    const dup = await expectGalleryError(() => store.createIdentity('ada lovelace'), 'identity_exists', 409);
    expect(dup.message).toContain('"Ada Lovelace"');
    expect((await store.findIdentityByName('ADA LOVELACE'))?.name).toBe('Ada Lovelace');
    await expectGalleryError(() => store.createIdentity('   '), 'invalid_name', 400);
    await expectGalleryError(() => store.createIdentity('two\nlines'), 'invalid_name', 400);
    await expectGalleryError(() => store.createIdentity('x'.repeat(101)), 'invalid_name', 400);
    expect(await store.listIdentities()).toHaveLength(1);
  });

  test('lists identities by name with their photo counts, negatives apart', async () => {
    const bob = await store.createIdentity('bob');
    const alice = await store.createIdentity('Alice');
    await store.addSample(sample(bob.id, { imageSha256: '1'.repeat(64) }));
    await store.addSample(sample(bob.id, { imageSha256: '2'.repeat(64), negative: true }));
    const listed = await store.listIdentities();
    expect(listed.map((i) => [i.name, i.sampleCount])).toEqual([
      ['Alice', 0],
      ['bob', 1],
    ]);
    expect((await store.getIdentity(alice.id))?.createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await store.countSamples()).toBe(1);
    expect(await store.countSamples({ negatives: true })).toBe(1);
    expect((await store.listSamples(bob.id, { negatives: true }))[0].negative).toBe(true);
  });

  test('round-trips embeddings exactly and lists samples without their images', async () => {
    const alice = await store.createIdentity('Alice');
    const embedding = Float32Array.from({ length: 128 }, (_, i) => Math.sin(i) / 7);
    const { sample: stored, duplicate } = await store.addSample(sample(alice.id, { embedding }));
    expect(duplicate).toBe(false);
    const [loaded] = await store.embeddings('rec', 'v1');
    expect(loaded.identity).toEqual({ id: alice.id, name: 'Alice' });
    expect(Array.from(loaded.embedding)).toEqual(Array.from(embedding));
    expect(await store.embeddings('rec', 'v2')).toEqual([]);
    expect(Object.keys((await store.listSamples(alice.id))[0]).sort()).toEqual(
      ['box', 'createdAt', 'id', 'identityId', 'imageSha256', 'recognizerId', 'recognizerVersion', 'score'].sort(),
    );
    expect((await store.thumbnail(stored.id))?.toString()).toBe('thumb');
    expect((await store.faceSource(stored.id))?.landmarks).toEqual(landmarksFor(stored.box));
    expect(await store.getSample(stored.id)).toEqual(stored);
    expect(await store.findSampleByHash(alice.id, 'a'.repeat(64))).toEqual(stored);
  });

  test('stores the same photo once per identity, and refuses the same face for another identity', async () => {
    const alice = await store.createIdentity('Alice');
    const bob = await store.createIdentity('Bob');
    const first = await store.addSample(sample(alice.id));
    const again = await store.addSample(sample(alice.id, { box: { x: 300, y: 20, width: 90, height: 90 } }));
    expect(again).toEqual({ sample: first.sample, duplicate: true });
    expect(await store.countSamples()).toBe(1);
    const conflict = await expectGalleryError(() => store.addSample(sample(bob.id)), 'photo_of_other_identity', 409);
    expect(conflict.details.owner).toEqual({ id: alice.id, name: 'Alice' });
    expect(await store.countSamples()).toBe(1);
    // Another face of the same (group) photo may be someone else.
    expect((await store.addSample(sample(bob.id, { box: { x: 300, y: 20, width: 90, height: 90 } }))).duplicate).toBe(false);
    expect(await store.countSamples()).toBe(2);
  });

  test('compares names by their key: case, Unicode forms and invisible characters', async () => {
    const asa = await store.createIdentity('Åsa Lind');
    expect((await store.findIdentityByName('ÅSA LIND'))?.id).toBe(asa.id);
    expect((await store.findIdentityByName('A\u030asa Lind'))?.id).toBe(asa.id); // NFD
    expect((await store.findIdentityByName('Åsa\u200b Lind'))?.id).toBe(asa.id); // zero-width space
    await expectGalleryError(() => store.createIdentity('åsa lind'), 'identity_exists', 409);
    await expectGalleryError(() => store.createIdentity(42), 'invalid_name', 400);
  });

  test('refuses the same photo re-encoded for another identity, with the similarity', async () => {
    const ada = await store.createIdentity('Ada');
    const bob = await store.createIdentity('Bob');
    await store.addSample(sample(ada.id));
    const near = Float32Array.from([0.6, 0.79, 0.05]).map((v, _, a) => v / Math.hypot(...a));
    const refused = await expectGalleryError(() => store.addSample(sample(bob.id, { imageSha256: 'f'.repeat(64), embedding: near })), 'photo_of_other_identity', 409);
    expect(refused.details.similarity).toBeGreaterThanOrEqual(0.98);
    expect(await store.countSamples()).toBe(1);
  });

  test('creates an identity with its first photo at once, or neither', async () => {
    const { identity, sample: first } = await store.createIdentityWithSample('Ada', sample(0));
    expect(identity).toMatchObject({ name: 'Ada', sampleCount: 1 });
    expect(first.identityId).toBe(identity.id);
    // The photo is refused (the same face as Ada's): Bob is not created either.
    await expectGalleryError(() => store.createIdentityWithSample('Bob', sample(0)), 'photo_of_other_identity', 409);
    expect((await store.listIdentities()).map((i) => i.name)).toEqual(['Ada']);
  });

  test('keeps a sample without its face source, and the secondary embeddings made at enrollment', async () => {
    const ada = await store.createIdentity('Ada');
    const { sample: s } = await store.addSample({
      ...sample(ada.id),
      source: undefined,
      secondaryEmbeddings: [{ recognizerId: 'upper', recognizerVersion: 'u1', embedding: Float32Array.from([0, 0, 1]) }],
    });
    expect(await store.faceSource(s.id)).toBeUndefined();
    expect((await store.embeddings('upper', 'u1')).map((e) => [e.sampleId, Array.from(e.embedding)])).toEqual([[s.id, [0, 0, 1]]]);
    expect(await store.staleSampleIds('upper', 'u1')).toEqual([]);
  });

  test('lets the latest word on a photo win: a photo of Ada, then "not Ada", and back', async () => {
    const ada = await store.createIdentity('Ada');
    const photo = (await store.addSample(sample(ada.id))).sample;
    const negative = await store.addSample(sample(ada.id, { negative: true }));
    expect(negative.replaced?.id).toBe(photo.id);
    expect(await store.listSamples(ada.id)).toEqual([]);
    const back = await store.addSample(sample(ada.id));
    expect(back.replaced?.id).toBe(negative.sample.id);
    expect((await store.embeddings('rec', 'v1')).map((e) => e.negative)).toEqual([false]);
  });

  test('refuses a sample for an unknown identity', async () => {
    await expectGalleryError(() => store.addSample(sample(42)), 'identity_not_found', 404);
    expect(await store.countSamples()).toBe(0);
  });

  test('deletes an identity with its samples and their images', async () => {
    const alice = await store.createIdentity('Alice');
    const bob = await store.createIdentity('Bob');
    const a1 = (await store.addSample(sample(alice.id, { imageSha256: '1'.repeat(64) }))).sample;
    const a2 = (await store.addSample(sample(alice.id, { imageSha256: '2'.repeat(64) }))).sample;
    await store.addSample(sample(bob.id, { imageSha256: '3'.repeat(64) }));
    const removed = await store.deleteIdentity(alice.id);
    expect(removed.sampleIds.sort()).toEqual([a1.id, a2.id].sort());
    expect(await store.countSamples()).toBe(1);
    expect(await store.thumbnail(a1.id)).toBeUndefined();
    expect(await store.faceSource(a2.id)).toBeUndefined();
    await expectGalleryError(() => store.deleteIdentity(alice.id), 'identity_not_found', 404);
  });

  test('deletes a sample only through its own identity, and never reuses ids', async () => {
    const alice = await store.createIdentity('Alice');
    const bob = await store.createIdentity('Bob');
    const s = (await store.addSample(sample(alice.id))).sample;
    await expectGalleryError(() => store.deleteSample(bob.id, s.id), 'sample_not_found', 404);
    expect((await store.deleteSample(alice.id, s.id)).id).toBe(s.id);
    await expectGalleryError(() => store.deleteSample(alice.id, s.id), 'sample_not_found', 404);
    expect((await store.addSample(sample(alice.id))).sample.id).toBeGreaterThan(s.id);
    await store.deleteIdentity(alice.id);
    expect((await store.createIdentity('Alice')).id).toBeGreaterThan(alice.id);
  });

  test('announces committed changes, and only those', async () => {
    const changes: GalleryChange[] = [];
    store.onChange((c) => changes.push(c));
    const alice = await store.createIdentity('Alice');
    const s = (await store.addSample(sample(alice.id))).sample;
    await store.addSample(sample(alice.id)); // duplicate: nothing new
    await expect(async () => store.addSample(sample(99))).rejects.toThrow(GalleryError);
    expect(await store.updateEmbedding(s.id, 'rec', 'v2', Float32Array.from([1, 0, 0]))).toBe(true);
    await store.deleteIdentity(alice.id);
    expect(changes.map((c) => c.type)).toEqual(['sample-embedded', 'sample-embedded', 'samples-removed']);
    expect(changes[1]).toMatchObject({ sampleId: s.id, recognizerVersion: 'v2', identity: { name: 'Alice' } });
    expect(changes[2]).toEqual({ type: 'samples-removed', sampleIds: [s.id] });
  });

  test('keeps secondary embeddings beside the main one, each recognizer its own, deleted with their sample', async () => {
    const alice = await store.createIdentity('Alice');
    const s1 = (await store.addSample(sample(alice.id, { imageSha256: '1'.repeat(64) }))).sample;
    const s2 = (await store.addSample(sample(alice.id, { imageSha256: '2'.repeat(64) }))).sample;
    expect(await store.staleSampleIds('upper', 'u1')).toEqual([s1.id, s2.id]);
    expect(await store.updateEmbedding(s1.id, 'upper', 'u1', Float32Array.from([0, 0, 1]), true)).toBe(true);
    expect(await store.staleSampleIds('upper', 'u1')).toEqual([s2.id]);
    expect(await store.staleSampleIds('rec', 'v1')).toEqual([]);
    expect((await store.embeddings('upper', 'u1')).map((e) => [e.sampleId, Array.from(e.embedding)])).toEqual([[s1.id, [0, 0, 1]]]);
    expect(await store.updateEmbedding(s1.id, 'upper', 'u2', Float32Array.from([0, 1, 0]), true)).toBe(true);
    expect(await store.embeddings('upper', 'u1')).toEqual([]);
    expect(await store.updateEmbedding(999, 'upper', 'u2', Float32Array.from([0, 1, 0]), true)).toBe(false);
    await store.deleteSample(alice.id, s1.id);
    expect(await store.embeddings('upper', 'u2')).toEqual([]);
  });

  test('enrolls photos through the enroller: stored, a duplicate once, the same face refused for another person', async () => {
    const detector = new FakeDetector();
    const recognizer = new FakeRecognizer();
    const enroller = new Enroller({ store, detector, recognizer, settings: TEST_SETTINGS });
    const photo = await makePhoto(640, 480, [{ person: 1, x: 200, y: 120, size: 160 }]);
    detector.register(photo);
    const ada = await store.createIdentity('Ada');
    const bob = await store.createIdentity('Bob');
    const first = await enroller.enroll(ada.id, photo.bytes);
    expect(first.duplicate).toBe(false);
    expect((await enroller.enroll(ada.id, photo.bytes)).duplicate).toBe(true);
    await expectGalleryError(() => enroller.enroll(bob.id, photo.bytes), 'photo_of_other_identity', 409);
    const { index } = await GalleryIndex.open(store, recognizer);
    expect(index.identity(ada.id)).toEqual({ id: ada.id, name: 'Ada' });
    expect(index.has(first.sample.id)).toBe(true);
    index.close();
  });

  test("another process's commits reach an index within 2 s: additions, deletions, re-embeddings", async () => {
    const other = await backend.openAnother();
    opened.push(other);
    const ada = await other.createIdentity('Ada');
    await other.addSample(sample(ada.id, { imageSha256: '1'.repeat(64) }));
    const { index } = await GalleryIndex.open(store, currentRecognizer, { pollIntervalMs: 100 });
    expect(index.size).toBe(1);
    const bob = await other.createIdentity('Bob');
    const b = (await other.addSample(sample(bob.id, { imageSha256: '2'.repeat(64), embedding: Float32Array.from([0, 0, 1]) }))).sample;
    const added = await waitFor(() => index.search(Float32Array.from([0, 0, 1]), 1)[0]?.identity.name === 'Bob', 2000, 'Bob in the index');
    await other.deleteSample(bob.id, b.id);
    await waitFor(() => !index.has(b.id), 2000, 'his photo gone');
    const [a] = await other.listSamples(ada.id);
    await other.updateEmbedding(a.id, 'rec', 'v2', Float32Array.from([1, 0, 0]));
    await waitFor(() => !index.has(a.id), 2000, 'her photo re-embedded by another recognizer (no longer comparable)');
    expect(added).toBeLessThan(2000);
    index.close();
  });

  test("the upper-face index embeds another process's new samples", async () => {
    const other = await backend.openAnother();
    opened.push(other);
    const detector = new FakeDetector();
    const recognizer = new FakeRecognizer();
    const upper = new FakeRecognizer('v2');
    const secondary = await SecondaryGallery.open(store, Object.assign(upper, { id: 'fake-upper' }), 100);
    const photo = await makePhoto(600, 400, [{ person: 2, x: 200, y: 100, size: 160 }]);
    detector.register(photo);
    const ada = await other.createIdentity('Ada');
    const { sample: enrolled } = await new Enroller({ store: other, detector, recognizer, settings: TEST_SETTINGS }).enroll(ada.id, photo.bytes);
    await waitFor(() => secondary.index.has(enrolled.id), 3000, 'the upper-face embedding of the new sample');
    await secondary.close();
  });
});

describe.skipIf(!havePostgres)('PostgreSQL only', () => {
  async function database(): Promise<string> {
    const name = `gallery_${++databases}`;
    const admin = new pg.Client(postgres!.url());
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    return postgres!.url(name);
  }

  it('an index keeps following after its notification connection is cut', async () => {
    const url = await database();
    const [store, other] = [await PostgresGallery.connect(url), await PostgresGallery.connect(url)];
    const { index } = await GalleryIndex.open(store, currentRecognizer);
    const admin = new pg.Client(url);
    await admin.connect();
    // The server ends every LISTENing backend (a restart, a failover, a network cut would too).
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`);
    const ada = await other.createIdentity('Ada');
    await other.addSample(sample(ada.id));
    // Notified after it listens again, or reloaded on reconnect: either way within a few seconds.
    await waitFor(() => index.size === 1, 5000, 'the sample in the index');
    await admin.end();
    index.close();
    await store.close();
    await other.close();
  });

  it('gallery migrate copies a SQLite gallery with its ids, embeddings and images, and only into an empty database', async () => {
    const tmp = tempDir();
    const file = tmp.file('gallery.db');
    const sqlite = GalleryStore.open(file);
    const ada = sqlite.createIdentity('Ada');
    const gone = sqlite.createIdentity('Gone');
    const bob = sqlite.createIdentity('Bob');
    sqlite.deleteIdentity(gone.id);
    const s1 = sqlite.addSample(sample(ada.id, { imageSha256: '1'.repeat(64), thumbnailJpeg: Buffer.from('ada-thumb') })).sample;
    const s2 = sqlite.addSample(sample(bob.id, { imageSha256: '2'.repeat(64), embedding: Float32Array.from([0, 0.6, 0.8]) })).sample;
    sqlite.addSample(sample(ada.id, { imageSha256: '3'.repeat(64), negative: true }));
    sqlite.updateEmbedding(s2.id, 'upper', 'u1', Float32Array.from([0.1, 0.2, 0.3]), true);
    sqlite.close();
    const url = await database();
    const report = await migrateGallery(file, url);
    expect(report).toEqual({ identities: 2, samples: 2, negatives: 1, secondaryEmbeddings: 1 });
    const copy = await PostgresGallery.connect(url);
    const source = GalleryStore.open(file);
    expect(await copy.listIdentities()).toEqual(source.listIdentities());
    expect(await copy.listSamples(ada.id, { negatives: true })).toEqual(source.listSamples(ada.id, { negatives: true }));
    expect(await copy.embeddings('rec', 'v1')).toEqual(source.embeddings('rec', 'v1'));
    expect(await copy.embeddings('upper', 'u1')).toEqual(source.embeddings('upper', 'u1'));
    expect((await copy.thumbnail(s1.id))?.toString()).toBe('ada-thumb');
    expect(await copy.faceSource(s2.id)).toEqual(source.faceSource(s2.id));
    // New ids follow the copied ones.
    expect((await copy.createIdentity('Carol')).id).toBeGreaterThan(bob.id);
    source.close();
    await copy.close();
    await expect(migrateGallery(file, url)).rejects.toThrow(/already holds 3 identities/);
    tmp.remove();
  });

  it('says what is wrong when the database cannot be reached, without its password', async () => {
    const url = `postgres://unmask:s3cret-pass@127.0.0.1:${postgres!.port + 1}/nowhere`;
    const err = await PostgresGallery.connect(url).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(GalleryError);
    expect(err!.message).toMatch(/cannot open the gallery postgres:\/\/\*\*\*@127\.0\.0\.1/);
    expect(err!.message).not.toContain('s3cret-pass');
  });
});
