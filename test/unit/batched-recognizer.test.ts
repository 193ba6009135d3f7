// Faces of several callers share runs of the recognizer, each caller gets its own embeddings back,
// and a bad crop fails its caller alone.
import { describe, expect, it } from 'vitest';
import { dlibChipTemplate } from '../../src/align/templates.ts';
import { BatchedRecognizer } from '../../src/embed/batched.ts';
import type { Recognizer } from '../../src/models/types.ts';
import type { RgbImage } from '../../src/types.ts';

const template = dlibChipTemplate('fake-8', 8, 0.25);
const crop = (value: number): RgbImage => ({ width: 8, height: 8, data: new Uint8Array(8 * 8 * 3).fill(value) });

function countingRecognizer(): Recognizer & { runs: number[] } {
  const runs: number[] = [];
  return {
    id: 'fake',
    version: '1',
    dims: 1,
    template,
    runs,
    async embed(crops) {
      runs.push(crops.length);
      await new Promise((r) => setTimeout(r, 5));
      return crops.map((c) => Float32Array.of(c.data[0]));
    },
  };
}

describe('BatchedRecognizer', () => {
  it('gathers the faces of concurrent callers into one run and hands each its own back', async () => {
    const inner = countingRecognizer();
    const batched = new BatchedRecognizer(inner, { maxBatch: 16, maxWaitMs: 20 });
    const [a, b, c] = await Promise.all([batched.embed([crop(1), crop(2)]), batched.embed([crop(3)]), batched.embed([crop(4), crop(5), crop(6)])]);
    expect(inner.runs).toEqual([6]);
    expect([...a, ...b, ...c].map((e) => e[0])).toEqual([1, 2, 3, 4, 5, 6]);
    await batched.close();
  });

  it('runs up to `concurrency` batches at once and never more than maxBatch faces a run', async () => {
    const inner = countingRecognizer();
    const batched = new BatchedRecognizer(inner, { maxBatch: 2, maxWaitMs: 0, concurrency: 2 });
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => batched.embed([crop(i)])));
    expect(results.map((r) => r[0][0])).toEqual([0, 1, 2, 3, 4]);
    expect(Math.max(...inner.runs)).toBeLessThanOrEqual(2);
    expect(inner.runs.reduce((a, b) => a + b, 0)).toBe(5);
    await batched.close();
  });

  it('refuses a crop of the wrong size for its caller only', async () => {
    const inner = countingRecognizer();
    const batched = new BatchedRecognizer(inner, { maxBatch: 16, maxWaitMs: 5 });
    const wrong = batched.embed([{ width: 4, height: 4, data: new Uint8Array(48) }]);
    const right = batched.embed([crop(7)]);
    await expect(wrong).rejects.toThrow(/8×8, got 4×4/);
    expect((await right)[0][0]).toBe(7);
    await batched.close();
    await expect(batched.embed([crop(1)])).rejects.toThrow(/closed/);
  });
});
