// Negative samples ("this is not X"): kept in the gallery beside the photos but never one of them,
// followed by the index, and a face is X only when it is closer to X's photos than to X's negatives
// by match.negativeMargin.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GalleryIndex } from '../../src/match/gallery-index.ts';
import { GalleryStore, type NewSample } from '../../src/gallery/store.ts';
import { landmarksFor, tempDir } from './gallery-fakes.ts';

const key = { id: 'rec', version: 'v1', dims: 3 };
const unit = (...v: number[]) => {
  const n = Math.hypot(...v);
  return Float32Array.from(v.map((x) => x / n));
};

function sample(identityId: number, embedding: Float32Array, overrides: Partial<NewSample> = {}): NewSample {
  const box = { x: 10, y: 20, width: 100, height: 100 };
  return {
    identityId,
    imageSha256: Buffer.from(embedding.buffer).toString('hex').padEnd(64, '0').slice(0, 64),
    box,
    score: 0.9,
    recognizerId: 'rec',
    recognizerVersion: 'v1',
    embedding,
    thumbnailJpeg: Buffer.from('thumb'),
    source: { jpeg: Buffer.from('source'), landmarks: landmarksFor(box) },
    ...overrides,
  };
}

describe('GalleryIndex with negative samples', () => {
  const ada = { id: 1, name: 'Ada' };
  const bob = { id: 2, name: 'Bob' };

  it('leaves an identity out when the face is not closer to its photos than to its negatives by the margin', () => {
    const index = new GalleryIndex(key);
    index.add(1, ada, unit(1, 0, 0));
    index.add(2, bob, unit(0, 1, 0));
    const stranger = unit(0.8, 0.5, 0.33); // closest to Ada
    expect(index.search(stranger, 2).map((h) => h.identity.name)).toEqual(['Ada', 'Bob']);

    index.addNegative(3, ada, unit(0.8, 0.5, 0.3)); // "this is not Ada", on a face like the stranger's
    expect(index.negativeCount).toBe(1);
    expect(index.search(stranger, 2).map((h) => h.identity.name)).toEqual(['Bob']); // Bob takes Ada's place
    // Ada herself is still Ada: far closer to her photo than to the negative.
    expect(index.search(unit(1, 0.05, 0), 1)[0].identity.name).toBe('Ada');

    // The margin decides the faces in between: closer to the photo, but not by much.
    const between = unit(0.95, 0.3, 0.1);
    const toPhoto = between[0];
    const toNegative = between[0] * 0.8 / Math.hypot(0.8, 0.5, 0.3) + between[1] * 0.5 / Math.hypot(0.8, 0.5, 0.3) + between[2] * 0.3 / Math.hypot(0.8, 0.5, 0.3);
    expect(toPhoto - toNegative).toBeGreaterThan(0);
    index.negativeMargin = 0;
    expect(index.search(between, 1)[0].identity.name).toBe('Ada');
    index.negativeMargin = toPhoto - toNegative + 0.01;
    expect(index.search(between, 1)[0].identity.name).toBe('Bob');

    expect(index.remove(3)).toBe(true);
    expect(index.negativeCount).toBe(0);
    expect(index.search(stranger, 1)[0].identity.name).toBe('Ada');
  });
});

describe('GalleryStore negative samples', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: GalleryStore;

  beforeEach(() => {
    tmp = tempDir();
    store = GalleryStore.open(tmp.file('gallery.db'));
  });
  afterEach(() => {
    store.close();
    tmp.remove();
  });

  it('keeps them apart from the photos, and the index follows them', async () => {
    const ada = store.createIdentity('Ada');
    const bob = store.createIdentity('Bob');
    const { index } = await GalleryIndex.open(store, { ...key, template: undefined as never, embed: async () => [] }, { negativeMargin: 0.05 });
    store.addSample(sample(ada.id, unit(1, 0, 0)));
    store.addSample(sample(bob.id, unit(0, 1, 0)));
    const negative = store.addSample(sample(ada.id, unit(0.8, 0.5, 0.3), { negative: true })).sample;
    expect(negative.negative).toBe(true);
    // Not one of Ada's photos.
    expect(store.getIdentity(ada.id)!.sampleCount).toBe(1);
    expect(store.listIdentities().find((i) => i.id === ada.id)!.sampleCount).toBe(1);
    expect(store.listSamples(ada.id).map((s) => s.id)).not.toContain(negative.id);
    expect(store.listSamples(ada.id, { negatives: true }).map((s) => s.id)).toEqual([negative.id]);
    expect(store.countSamples()).toBe(2);
    expect(store.countSamples({ negatives: true })).toBe(1);
    expect(store.embeddings('rec', 'v1').map((e) => e.negative)).toEqual([false, false, true]);
    // The same face of another identity's photo may be a negative of Ada (one face is not two people; it can be not-Ada).
    expect(() => store.addSample(sample(bob.id, unit(0.8, 0.5, 0.3), { imageSha256: negative.imageSha256 }))).not.toThrow();

    expect(index.negativeCount).toBe(1);
    expect(index.search(unit(0.8, 0.5, 0.33), 1)[0].identity.name).toBe('Bob');

    // A fresh index loads them from the file.
    const reloaded = (await GalleryIndex.open(store, { ...key, template: undefined as never, embed: async () => [] }, { negativeMargin: 0.05 })).index;
    expect(reloaded.negativeCount).toBe(1);
    expect(reloaded.search(unit(0.8, 0.5, 0.33), 1)[0].identity.name).toBe('Bob');
    reloaded.close();

    store.deleteSample(ada.id, negative.id);
    expect(index.negativeCount).toBe(0);
    index.close();
  });

  it('lets the latest word on a photo win: a photo of Ada, then "not Ada", and back', () => {
    const ada = store.createIdentity('Ada');
    const photo = store.addSample(sample(ada.id, unit(1, 0, 0)));
    expect(photo.duplicate).toBe(false);
    const not = store.addSample(sample(ada.id, unit(1, 0, 0), { negative: true }));
    expect(not).toMatchObject({ duplicate: false, replaced: { id: photo.sample.id } });
    expect(store.getIdentity(ada.id)!.sampleCount).toBe(0);
    expect(store.addSample(sample(ada.id, unit(1, 0, 0), { negative: true })).duplicate).toBe(true);
    const again = store.addSample(sample(ada.id, unit(1, 0, 0)));
    expect(again.replaced?.id).toBe(not.sample.id);
    expect(store.getIdentity(ada.id)!.sampleCount).toBe(1);
    expect(store.countSamples({ negatives: true })).toBe(0);
  });
});
