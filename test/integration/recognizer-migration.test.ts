// A gallery enrolled under face-api's recognizer follows a switch to ArcFace: at start every sample
// is re-embedded from its stored face source (no photo needed), and the same people are found.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { Enroller, l2Normalised } from '../../src/gallery/enroll.ts';
import { GalleryStore } from '../../src/gallery/store.ts';
import { GalleryIndex } from '../../src/match/gallery-index.ts';
import { loadModels } from '../../src/models/registry.ts';

const LFW = process.env.UNMASK_LFW_DIR ?? join(import.meta.dirname, '../../../shared/data/lfw-view1/images_deepfunneled');
const people = (() => {
  try {
    return readdirSync(LFW).sort().filter((n) => readdirSync(join(LFW, n)).length >= 2).slice(0, 4);
  } catch {
    return [];
  }
})();
const photo = (name: string, k: number) => readFileSync(join(LFW, name, readdirSync(join(LFW, name)).sort()[k]));

describe.skipIf(people.length < 4)('switching recognize.model on an existing gallery', () => {
  const dir = mkdtempSync(join(tmpdir(), 'migration-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('re-embeds every face-api sample with ArcFace from its face source, and names the people again', async () => {
    const path = join(dir, 'gallery.db');
    const faceapi = parseConfig({ recognize: { model: 'faceapi' }, gallery: { path } });
    const before = await loadModels(faceapi, 1);
    const store = GalleryStore.open(path);
    try {
      const enroller = new Enroller({ store, detector: before.enrollDetector, recognizer: before.recognizer, settings: faceapi.gallery });
      for (const name of people) await enroller.enroll(store.createIdentity(name).id, photo(name, 0));
    } finally {
      await before.close();
    }
    const arcface = parseConfig({ gallery: { path } });
    const after = await loadModels(arcface, 1);
    try {
      const { index, reembed } = await GalleryIndex.open(store, after.recognizer);
      expect(reembed).toEqual({ total: people.length, reembedded: people.length, failed: [] });
      expect(index.dims).toBe(512);
      // Each person's second photo finds them first, at or above ArcFace's threshold.
      const check = new Enroller({ store, detector: after.enrollDetector, recognizer: after.recognizer, settings: arcface.gallery });
      for (const name of people) {
        const { embedding } = await check.examine(photo(name, 1));
        const [best] = index.search(l2Normalised(embedding, 512), 1);
        expect(best.identity.name).toBe(name);
        expect(best.score).toBeGreaterThanOrEqual(arcface.match.threshold);
      }
      // A second start finds nothing left to re-embed.
      index.close();
      const again = await GalleryIndex.open(store, after.recognizer);
      expect(again.reembed.total).toBe(0);
      again.index.close();
    } finally {
      store.close();
      await after.close();
    }
  });
});
