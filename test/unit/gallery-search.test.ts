import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Enroller } from '../../src/gallery/enroll.ts';
import { GalleryIndex, type SearchHit } from '../../src/match/gallery-index.ts';
import { SecondaryGallery } from '../../src/match/secondary-index.ts';
import { upperFaceView } from '../../src/embed/upper-face.ts';
import { GalleryStore, type NewSample } from '../../src/gallery/store.ts';
import type { Identity } from '../../src/types.ts';
import { alignToTemplate } from '../../src/align/warp.ts';
import {
  cosine,
  FakeDetector,
  FakeRecognizer,
  landmarksFor,
  makePhoto,
  seeded,
  tempDir,
  TEST_SETTINGS,
} from './gallery-fakes.ts';

interface Row {
  sampleId: number;
  identity: Identity;
  vector: Float32Array;
}

function randomVector(random: () => number, dims: number): Float32Array {
  return Float32Array.from({ length: dims }, () => random() * 2 - 1);
}

/** The reference: every row scored, best per identity, sorted. */
function bruteForce(rows: Row[], query: Float32Array, k: number): SearchHit[] {
  const best = new Map<number, SearchHit>();
  for (const row of rows) {
    const score = cosine(row.vector, query);
    const hit = best.get(row.identity.id);
    if (!hit || score > hit.score) best.set(row.identity.id, { identity: row.identity, sampleId: row.sampleId, score });
  }
  return [...best.values()].sort((a, b) => b.score - a.score).slice(0, k);
}

function expectSameHits(actual: SearchHit[], expected: SearchHit[]): void {
  expect(actual.map((h) => [h.identity.id, h.sampleId])).toEqual(expected.map((h) => [h.identity.id, h.sampleId]));
  actual.forEach((hit, i) => expect(hit.score).toBeCloseTo(expected[i].score, 5));
}

const key = { id: 'rec', version: 'v1', dims: 32 };

describe('GalleryIndex search', () => {
  it('returns the same top-k distinct identities as brute force, through growth and removals', () => {
    const random = seeded(7);
    const index = new GalleryIndex(key);
    const identities: Identity[] = Array.from({ length: 60 }, (_, i) => ({ id: i + 1, name: `person ${i + 1}` }));
    let rows: Row[] = [];
    for (let sampleId = 1; sampleId <= 500; sampleId++) {
      const row = { sampleId, identity: identities[Math.floor(random() * identities.length)], vector: randomVector(random, 32) };
      rows.push(row);
      index.add(row.sampleId, row.identity, row.vector);
    }
    expect(index.size).toBe(500); // grew past its initial capacity several times
    for (let q = 0; q < 20; q++) {
      const query = randomVector(random, 32);
      expectSameHits(index.search(query, 5), bruteForce(rows, query, 5));
    }
    // Remove a third of the rows at random places (each removal moves the last row into the hole).
    for (const row of rows.filter((_, i) => i % 3 === 1)) expect(index.remove(row.sampleId)).toBe(true);
    rows = rows.filter((_, i) => i % 3 !== 1);
    expect(index.size).toBe(rows.length);
    expect(index.remove(2)).toBe(false);
    for (let q = 0; q < 20; q++) {
      const query = randomVector(random, 32);
      expectSameHits(index.search(query, 7), bruteForce(rows, query, 7));
    }
    expect(index.search(randomVector(random, 32), 1000)).toHaveLength(new Set(rows.map((r) => r.identity.id)).size);
  });

  it('finds the closest sample exactly, and replaces an embedding on re-add', () => {
    const index = new GalleryIndex({ id: 'rec', version: 'v1', dims: 3 });
    const alice = { id: 1, name: 'Alice' };
    const bob = { id: 2, name: 'Bob' };
    index.add(10, alice, [1, 0, 0]);
    index.add(11, alice, [0, 1, 0]);
    index.add(20, bob, [0, 0, 5]); // not normalised: the index normalises
    expect(index.search([0, 2, 0.1], 2)).toEqual([
      { identity: alice, sampleId: 11, score: expect.closeTo(0.9988, 3) },
      { identity: bob, sampleId: 20, score: expect.closeTo(0.0499, 3) },
    ]);
    index.add(11, alice, [0, 0, -1]);
    expect(index.search([0, 1, 0], 1)[0]).toMatchObject({ identity: alice, sampleId: 10, score: expect.closeTo(0, 6) });
    expect(index.size).toBe(3);

    // Bob's last sample goes; Carol, added after, must not inherit his name.
    index.remove(20);
    index.add(30, { id: 3, name: 'Carol' }, [0, 0, 1]);
    expect(index.search([0, 0, 1], 5).map((h) => [h.identity.name, h.sampleId])).toEqual([
      ['Carol', 30],
      ['Alice', 10],
    ]);
    // A sample moved to another identity leaves the first.
    index.add(10, bob, [1, 0, 0]);
    expect(index.search([1, 0, 0], 1)[0]).toMatchObject({ identity: bob, sampleId: 10 });
    expect(index.search([0, 0, -1], 5).map((h) => h.identity.name).sort()).toEqual(['Alice', 'Bob', 'Carol']);
  });

  it('refuses embeddings of the wrong size or without a direction', () => {
    const index = new GalleryIndex({ id: 'rec', version: 'v1', dims: 3 });
    expect(() => index.add(1, { id: 1, name: 'A' }, [1, 0])).toThrow(/2 dimensions, the recognizer makes 3/);
    expect(() => index.add(1, { id: 1, name: 'A' }, [0, 0, 0])).toThrow(/zero/);
    expect(() => index.search([Number.NaN, 0, 0], 1)).toThrow(/not finite/);
    expect(index.search([1, 0, 0], 3)).toEqual([]);
  });

  it('searches 10k samples of 128-D in a few milliseconds', () => {
    const random = seeded(3);
    const index = new GalleryIndex({ id: 'rec', version: 'v1', dims: 128 });
    for (let i = 1; i <= 10_000; i++) index.add(i, { id: 1 + (i % 2000), name: `p${i % 2000}` }, randomVector(random, 128));
    const query = randomVector(random, 128);
    for (let i = 0; i < 5; i++) index.search(query, 5); // warm up the JIT
    const times: number[] = [];
    for (let i = 0; i < 21; i++) {
      const start = performance.now();
      index.search(query, 5);
      times.push(performance.now() - start);
    }
    const median = times.sort((a, b) => a - b)[10];
    // About 1 ms on an idle core; the bound leaves room for a busy shared CI machine.
    expect(median).toBeLessThan(15);
  });
});

describe('GalleryIndex following the store', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: GalleryStore;
  let index: GalleryIndex | undefined;

  beforeEach(() => {
    tmp = tempDir();
    store = GalleryStore.open(tmp.file('gallery.db'));
  });
  afterEach(() => {
    index?.close();
    index = undefined;
    store.close();
    tmp.remove();
  });

  /** A 48-D vector (the fake recognizer's size) starting with these values. */
  const vec = (head: number[]) => {
    const vector = new Float32Array(48);
    vector.set(head);
    return vector;
  };

  function storedSample(identityId: number, sha: string, embedding: number[], version = 'v1'): NewSample {
    const box = { x: 0, y: 0, width: 100, height: 100 };
    return {
      identityId,
      imageSha256: sha.repeat(64),
      box,
      score: 0.9,
      recognizerId: 'fake-recognizer',
      recognizerVersion: version,
      embedding: vec(embedding),
      thumbnailJpeg: Buffer.from('t'),
      source: { jpeg: Buffer.from('s'), landmarks: landmarksFor(box) },
    };
  }

  it('loads the current recognizer’s samples and follows every add and removal', async () => {
    const alice = store.createIdentity('Alice');
    const bob = store.createIdentity('Bob');
    const a1 = store.addSample(storedSample(alice.id, '1', [1])).sample;
    ({ index } = await GalleryIndex.open(store, new FakeRecognizer('v1')));
    expect(index.size).toBe(1);
    expect(index.has(a1.id)).toBe(true);

    const b1 = store.addSample(storedSample(bob.id, '2', [0, 1])).sample;
    expect(index.search(vec([0, 1]), 1)[0]).toMatchObject({ identity: { id: bob.id, name: 'Bob' }, sampleId: b1.id });
    store.deleteSample(bob.id, b1.id);
    expect(index.has(b1.id)).toBe(false);
    expect(index.search(vec([0, 1]), 5).map((h) => h.identity.name)).toEqual(['Alice']);

    store.addSample(storedSample(alice.id, '3', [0, 0, 1]));
    store.deleteIdentity(alice.id);
    expect(index.size).toBe(0);
  });

  it('reports a stale sample whose face source is unreadable and leaves it out of the index', async () => {
    const alice = store.createIdentity('Alice');
    const current = store.addSample(storedSample(alice.id, '1', [1])).sample;
    const broken = store.addSample(storedSample(alice.id, '2', [0, 1], 'v0')).sample; // its source is not a JPEG
    const opened = await GalleryIndex.open(store, new FakeRecognizer('v1'));
    index = opened.index;
    expect(opened.reembed).toEqual({ total: 1, reembedded: 0, failed: [broken.id] });
    expect(index.has(current.id)).toBe(true);
    expect(index.has(broken.id)).toBe(false);
    expect(store.staleSampleIds('fake-recognizer', 'v1')).toEqual([broken.id]); // tried again at the next open
  });

  it('picks up what another process commits', async () => {
    ({ index } = await GalleryIndex.open(store, new FakeRecognizer('v1')));
    const other = GalleryStore.open(store.path);
    const carol = other.createIdentity('Carol');
    other.addSample(storedSample(carol.id, '4', [0, 0, 1]));
    other.close();
    expect(index.size).toBe(0);
    expect(index.syncExternalChanges(store)).toBe(true);
    expect(index.search(vec([0, 0, 1]), 1)[0].identity.name).toBe('Carol');
    expect(index.syncExternalChanges(store)).toBe(false);
  });

  it('re-embeds, from the face sources, samples made by another recognizer version', async () => {
    const detector = new FakeDetector();
    const v1 = new FakeRecognizer('v1');
    const enroller = new Enroller({ store, detector, recognizer: v1, settings: TEST_SETTINGS });
    const people = [0, 1, 2].map((p) => store.createIdentity(`person ${p}`));
    const photos = await Promise.all(
      people.map((_, p) => makePhoto(640 + p, 480, [{ x: 200 + 20 * p, y: 120, size: 160 + 10 * p, person: p }])),
    );
    for (const [p, photo] of photos.entries()) {
      detector.register(photo);
      await enroller.enroll(people[p].id, photo.bytes);
    }
    store.close();

    store = GalleryStore.open(tmp.file('gallery.db'));
    const v2 = new FakeRecognizer('v2');
    const progress: [number, number][] = [];
    const opened = await GalleryIndex.open(store, v2, { onReembedProgress: (done, total) => progress.push([done, total]) });
    index = opened.index;
    expect(opened.reembed).toEqual({ total: 3, reembedded: 3, failed: [] });
    expect(progress.at(-1)).toEqual([3, 3]);
    expect(store.staleSampleIds(v2.id, v2.version)).toEqual([]);
    expect(index.size).toBe(3);

    // The re-embedded gallery matches what v2 makes of each person's original photo.
    const sharp = (await import('sharp')).default;
    for (const [p, photo] of photos.entries()) {
      const { data, info } = await sharp(photo.bytes).raw().toBuffer({ resolveWithObject: true });
      const image = { width: info.width, height: info.height, data: new Uint8Array(data) };
      const [probe] = await v2.embed([alignToTemplate(image, photo.faces[0].landmarks, v2.template).crop]);
      const [hit] = index.search(probe, 1);
      expect(hit.identity.name).toBe(`person ${p}`);
      expect(hit.score).toBeGreaterThan(0.99);
      const [v1Probe] = await v1.embed([alignToTemplate(image, photo.faces[0].landmarks, v1.template).crop]);
      expect(cosine(v1Probe, probe)).toBeLessThan(0.9); // the versions really differ
    }

    // Nothing left to do at the next open.
    const again = await GalleryIndex.open(store, v2);
    again.index.close();
    expect(again.reembed.total).toBe(0);
  });

  it('keeps a secondary recognizer’s embeddings beside the main ones, caught up as samples arrive', async () => {
    const detector = new FakeDetector();
    const main = new FakeRecognizer('v1');
    const enroller = new Enroller({ store, detector, recognizer: main, settings: TEST_SETTINGS });
    const people = [0, 1, 2, 3].map((p) => store.createIdentity(`person ${p}`));
    const photos = await Promise.all(
      people.map((_, p) => makePhoto(640 + p, 480, [{ x: 200 + 20 * p, y: 120, size: 160 + 10 * p, person: p }])),
    );
    const enroll = async (p: number, by = enroller) => {
      detector.register(photos[p]);
      await by.enroll(people[p].id, photos[p].bytes);
    };
    await enroll(0);
    await enroll(1);
    ({ index } = await GalleryIndex.open(store, main));
    const upper = upperFaceView(new FakeRecognizer('v1'), 0.5);
    const secondary = await SecondaryGallery.open(store, upper, 20);
    try {
      expect(secondary.index.size).toBe(2);
      expect(store.staleSampleIds(upper.id, upper.version)).toEqual([]);
      // Another secondary recognizer's embedding of a sample leaves both indexes as they are.
      const [first] = store.embeddings(upper.id, upper.version);
      store.updateEmbedding(first.sampleId, 'another-secondary', 'v9', Float32Array.of(1, 0), true);
      expect([secondary.index.has(first.sampleId), index.has(first.sampleId)]).toEqual([true, true]);
      // The main embeddings are untouched: every sample is still current for the main recognizer.
      expect(store.staleSampleIds(main.id, main.version)).toEqual([]);
      expect(index.size).toBe(2);

      await enroll(2); // announced: the secondary gallery embeds it too
      await secondary.catchUp();
      expect(secondary.index.size).toBe(3);
      expect(index.size).toBe(3);

      // Its search sees the upper face only: a probe made the same way finds its person.
      const sharp = (await import('sharp')).default;
      const { data, info } = await sharp(photos[2].bytes).raw().toBuffer({ resolveWithObject: true });
      const image = { width: info.width, height: info.height, data: new Uint8Array(data) };
      const [probe] = await upper.embed([alignToTemplate(image, photos[2].faces[0].landmarks, upper.template).crop]);
      expect(secondary.index.search(probe, 1)[0]).toMatchObject({ identity: { name: 'person 2' }, score: expect.closeTo(1, 4) });

      // Enrolled by another process: embedded at the next poll.
      const other = GalleryStore.open(store.path);
      await enroll(3, new Enroller({ store: other, detector, recognizer: main, settings: TEST_SETTINGS }));
      other.close();
      for (let wait = 0; wait < 100 && secondary.index.size < 4; wait++) await new Promise((r) => setTimeout(r, 20));
      expect(secondary.index.size).toBe(4);
      expect(store.staleSampleIds(upper.id, upper.version)).toEqual([]);

      store.deleteIdentity(people[0].id);
      expect(secondary.index.size).toBe(3);
    } finally {
      await secondary.close();
    }
  });
});
