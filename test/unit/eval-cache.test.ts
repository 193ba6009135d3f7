import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FACEAPI_RECOGNIZER_TEMPLATE, INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { MemoryEvalCache, SqliteEvalCache } from '../../lab/eval/cache.ts';
import { GT_CONDITION, OCC_CONDITION, runLfwEval, TELEA_CONDITION, type Condition } from '../../lab/eval/lfw.ts';
import { parsePairs } from '../../lab/eval/pairs.ts';
import { templateGeometry, type EvalRecognizer } from '../../lab/eval/recognizers/types.ts';
import type { Detector } from '../../src/models/types.ts';
import type { Point, RgbImage } from '../../src/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'eval-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SqliteEvalCache', () => {
  it('keeps landmarks (and "no face"), quality and embeddings across a reopen', () => {
    const file = join(dir, 'a', 'cache.db');
    const cache = new SqliteEvalCache(file);
    const points: Point[] = [{ x: 1.5, y: -2 }];
    cache.putLandmarks('seen', points);
    cache.putLandmarks('missed', null);
    cache.putQuality('q', { psnr: 23.5, ssim: 0.91 });
    // A view into a larger buffer at an odd offset: only its own values are stored.
    const backing = new Float32Array([9, 0.25, -1e-7, 3e8, 9]);
    cache.putEmbedding('e', backing.subarray(1, 4));
    cache.close();
    const reopened = new SqliteEvalCache(file);
    expect(reopened.getLandmarks('seen')).toEqual(points);
    expect(reopened.getLandmarks('missed')).toBeNull();
    expect(reopened.getLandmarks('never')).toBeUndefined();
    expect(reopened.getQuality('q')).toEqual({ psnr: 23.5, ssim: 0.91 });
    expect(reopened.getQuality('never')).toBeUndefined();
    expect(Array.from(reopened.getEmbedding('e')!)).toEqual(Array.from(backing.subarray(1, 4)));
    expect(reopened.getEmbedding('never')).toBeUndefined();
    reopened.close();
  });
});

// A tiny LFW of four flat-coloured people (as eval-lfw.test.ts), counted calls to every model.
const SIZE = 100;
const COLOURS: Record<string, number[]> = { Ann: [188, 188, 188], Bob: [188, 68, 68], Cid: [68, 188, 68], Dee: [68, 68, 188] };
const lfw = join(dir, 'lfw');
for (const [name, colour] of Object.entries(COLOURS)) {
  mkdirSync(join(lfw, name), { recursive: true });
  for (const n of [1, 2]) writeFileSync(join(lfw, name, `${name}_000${n}.jpg`), JSON.stringify(colour));
}
const pairs = parsePairs(['4', 'Ann\t1\t2', 'Bob\t1\t2', 'Cid\t1\t2', 'Dee\t1\t2', 'Ann\t1\tBob\t1', 'Bob\t2\tCid\t1', 'Cid\t2\tDee\t1', 'Dee\t2\tAnn\t2'].join('\n')).pairs;

function decode(bytes: Uint8Array): Promise<RgbImage> {
  const [r, g, b] = JSON.parse(Buffer.from(bytes).toString('utf8')) as number[];
  const data = new Uint8Array(SIZE * SIZE * 3);
  for (let i = 0; i < SIZE * SIZE; i++) data.set([r, g, b].map((v) => v + ((i % SIZE) >> 3)), i * 3);
  return Promise.resolve({ width: SIZE, height: SIZE, data });
}

function counting() {
  const calls = { detect: 0, embed: 0, restore: 0 };
  const detector: Detector = {
    id: 'fake-detector',
    async detect(image) {
      calls.detect++;
      const pad = (image.width - SIZE) / 2;
      const landmarks: Point[] = Array.from({ length: 68 }, () => ({ x: pad + SIZE / 2, y: pad + SIZE / 2 }));
      INPAINT_TEMPLATE.landmarkGroups.forEach(([index], k) => {
        landmarks[index] = { x: pad + (INPAINT_TEMPLATE.points[k].x * SIZE) / 128, y: pad + (INPAINT_TEMPLATE.points[k].y * SIZE) / 128 };
      });
      return [{ box: { x: pad, y: pad, width: SIZE, height: SIZE }, score: 0.9, landmarks }];
    },
  };
  const recognizer: EvalRecognizer = {
    id: 'fake',
    version: '1',
    dims: 3,
    description: 'mean colour',
    chip: templateGeometry(FACEAPI_RECOGNIZER_TEMPLATE),
    async embed(chips) {
      calls.embed += chips.length;
      return chips.map((chip) => {
        const mean = [0, 0, 0];
        for (let i = 0; i < chip.data.length; i++) mean[i % 3] += chip.data[i];
        return Float32Array.from(mean.map((m) => m / (chip.data.length / 3) - 128));
      });
    },
    close: async () => {},
  };
  const counted = (condition: Condition): Condition => ({
    ...condition,
    restore: (occluded, masks, gt) => ((calls.restore += occluded.length), condition.restore(occluded, masks, gt)),
  });
  return { calls, detector, recognizer, counted };
}

describe('runLfwEval through the cache', () => {
  const options = { lfwDir: lfw, pairs, useFileFolds: false, batchSize: 3, decode };

  it('computes everything once, nothing on a re-run, and only the new condition when one is added', async () => {
    const cache = new SqliteEvalCache(join(dir, 'run', 'cache.db'));
    const first = counting();
    const run1 = await runLfwEval({ ...options, seed: 0 }, { detector: first.detector, recognizers: [first.recognizer], conditions: [GT_CONDITION, OCC_CONDITION].map(first.counted), cache });
    expect(first.calls).toEqual({ detect: 8, embed: 16, restore: 16 });
    expect(run1.result.computed).toEqual({ landmarks: 8, quality: 8, embeddings: 16 });

    const again = counting();
    const run2 = await runLfwEval({ ...options, seed: 0 }, { detector: again.detector, recognizers: [again.recognizer], conditions: [GT_CONDITION, OCC_CONDITION].map(again.counted), cache });
    expect(again.calls).toEqual({ detect: 0, embed: 0, restore: 0 });
    expect(run2.result.accuracy).toEqual(run1.result.accuracy);
    expect(run2.result.psnr).toEqual(run1.result.psnr);

    const added = counting();
    const run3 = await runLfwEval(
      { ...options, seed: 0 },
      { detector: added.detector, recognizers: [added.recognizer], conditions: [GT_CONDITION, OCC_CONDITION, TELEA_CONDITION].map(added.counted), cache },
    );
    expect(added.calls).toEqual({ detect: 0, embed: 8, restore: 8 });
    expect(run3.result.computed).toEqual({ landmarks: 0, quality: 8, embeddings: 8 });
    expect(Object.keys(run3.result.psnr)).toEqual(['OCC', 'Telea']);

    // A new hole seed: the occluded rows again, GT's embeddings still from the cache.
    const reseeded = counting();
    await runLfwEval({ ...options, seed: 1 }, { detector: reseeded.detector, recognizers: [reseeded.recognizer], conditions: [GT_CONDITION, OCC_CONDITION].map(reseeded.counted), cache });
    expect(reseeded.calls).toEqual({ detect: 0, embed: 8, restore: 8 });
    cache.close();
  });

  it('recomputes a condition whose model changed (a new cacheId)', async () => {
    const cache = new MemoryEvalCache();
    const grey = (version: string): Condition => ({
      name: 'idgan-x',
      cacheId: `idgan-x-${version}`,
      restore: async (occluded, masks) => occluded.map((crop, i) => ({ ...crop, data: crop.data.map((v, k) => (masks[i][Math.floor(k / 3)] ? 128 : v)) })),
    });
    const a = counting();
    await runLfwEval({ ...options, seed: 0 }, { detector: a.detector, recognizers: [a.recognizer], conditions: [a.counted(grey('v1'))], cache });
    const b = counting();
    await runLfwEval({ ...options, seed: 0 }, { detector: b.detector, recognizers: [b.recognizer], conditions: [b.counted(grey('v2'))], cache });
    expect(b.calls).toEqual({ detect: 0, embed: 8, restore: 8 });
  });
});
