// The cross-camera inpaint batcher with a fake generator: batches by size and by time, each caller gets
// its own faces back in its order, a failed run fails only the callers that had faces in it.
import { afterEach, describe, expect, it } from 'vitest';
import type { Inpainter } from '../../src/models/types.ts';
import { InpaintBatcher } from '../../src/repair/batcher.ts';
import type { RgbImage } from '../../src/types.ts';

const SIZE = 4;

/** A crop whose first byte names it. */
function crop(tag: number): RgbImage {
  const data = new Uint8Array(SIZE * SIZE * 3);
  data[0] = tag;
  return { width: SIZE, height: SIZE, data };
}
const mask = () => new Uint8Array(SIZE * SIZE);
const tags = (faces: RgbImage[]) => faces.map((f) => f.data[0]);

/** "Inpaints" by adding 100 to the tag; records each run's tags; can be told to fail or to hold a run. */
class FakeInpainter implements Inpainter {
  readonly id = 'fake';
  readonly version = 'v';
  readonly size = SIZE;
  runs: number[][] = [];
  failNext: Error | undefined;
  closed = false;
  private hold: Promise<void> | undefined;
  private release: (() => void) | undefined;

  holdRuns(): void {
    this.hold = new Promise((r) => (this.release = r));
  }
  releaseRuns(): void {
    this.release?.();
    this.hold = undefined;
  }

  async inpaint(crops: RgbImage[], masks: Uint8Array[]): Promise<RgbImage[]> {
    expect(masks).toHaveLength(crops.length);
    this.runs.push(tags(crops));
    await this.hold;
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = undefined;
      throw err;
    }
    return crops.map((c) => crop(c.data[0] + 100));
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('InpaintBatcher', () => {
  let batcher: InpaintBatcher | undefined;
  afterEach(async () => {
    await batcher?.close();
    batcher = undefined;
  });

  it('runs one batch as soon as maxBatch faces are queued, and routes each caller its own faces in order', async () => {
    const fake = new FakeInpainter();
    const sizes: number[] = [];
    batcher = new InpaintBatcher(fake, { maxBatch: 4, maxWaitMs: 60_000 }, (n) => sizes.push(n));
    const a = batcher.inpaint([crop(1), crop(2)], [mask(), mask()]);
    const b = batcher.inpaint([crop(3)], [mask()]);
    expect(fake.runs).toEqual([]);
    const c = batcher.inpaint([crop(4)], [mask()]);
    expect(tags(await a)).toEqual([101, 102]);
    expect(tags(await b)).toEqual([103]);
    expect(tags(await c)).toEqual([104]);
    expect(fake.runs).toEqual([[1, 2, 3, 4]]);
    expect(sizes).toEqual([4]);
  });

  it('runs a partial batch maxWaitMs after its first face', async () => {
    const fake = new FakeInpainter();
    batcher = new InpaintBatcher(fake, { maxBatch: 32, maxWaitMs: 30 });
    const started = performance.now();
    const a = batcher.inpaint([crop(1)], [mask()]);
    await sleep(5);
    const b = batcher.inpaint([crop(2)], [mask()]);
    expect(tags(await a)).toEqual([101]);
    expect(tags(await b)).toEqual([102]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(28);
    expect(fake.runs).toEqual([[1, 2]]);
  });

  it('splits a caller larger than maxBatch over several batches and answers once all are back', async () => {
    const fake = new FakeInpainter();
    batcher = new InpaintBatcher(fake, { maxBatch: 2, maxWaitMs: 0 });
    const out = await batcher.inpaint([crop(1), crop(2), crop(3), crop(4), crop(5)], [mask(), mask(), mask(), mask(), mask()]);
    expect(tags(out)).toEqual([101, 102, 103, 104, 105]);
    expect(fake.runs).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('fills the next batch while one runs: under load batches grow', async () => {
    const fake = new FakeInpainter();
    batcher = new InpaintBatcher(fake, { maxBatch: 8, maxWaitMs: 0 });
    fake.holdRuns();
    const first = batcher.inpaint([crop(1)], [mask()]);
    await sleep(1);
    const rest = [2, 3, 4].map((t) => batcher!.inpaint([crop(t)], [mask()]));
    expect(batcher.queued).toBe(3);
    fake.releaseRuns();
    expect(tags(await first)).toEqual([101]);
    expect((await Promise.all(rest)).map(tags)).toEqual([[102], [103], [104]]);
    expect(fake.runs).toEqual([[1], [2, 3, 4]]);
  });

  it('gives a failed run’s error to every caller in it, and later batches still run', async () => {
    const fake = new FakeInpainter();
    batcher = new InpaintBatcher(fake, { maxBatch: 2, maxWaitMs: 60_000 });
    fake.failNext = new Error('GPU lost');
    const a = batcher.inpaint([crop(1)], [mask()]);
    const b = batcher.inpaint([crop(2)], [mask()]);
    await expect(a).rejects.toThrow('GPU lost');
    await expect(b).rejects.toThrow('GPU lost');
    expect(tags(await batcher.inpaint([crop(3), crop(4)], [mask(), mask()]))).toEqual([103, 104]);
    expect(fake.runs).toEqual([[1, 2], [3, 4]]);
  });

  it('fails a caller whose faces span a failed and a good batch, once', async () => {
    const fake = new FakeInpainter();
    batcher = new InpaintBatcher(fake, { maxBatch: 2, maxWaitMs: 0 });
    fake.failNext = new Error('boom');
    await expect(batcher.inpaint([crop(1), crop(2), crop(3)], [mask(), mask(), mask()])).rejects.toThrow('boom');
    expect(fake.runs).toEqual([[1, 2], [3]]);
  });

  it('refuses a bad request alone, without failing the others of its batch', async () => {
    const fake = new FakeInpainter();
    batcher = new InpaintBatcher(fake, { maxBatch: 4, maxWaitMs: 10 });
    const good = batcher.inpaint([crop(1)], [mask()]);
    await expect(batcher.inpaint([crop(2)], [])).rejects.toThrow('1 crops but 0 masks');
    const wrong = { width: 8, height: 8, data: new Uint8Array(8 * 8 * 3) };
    await expect(batcher.inpaint([wrong], [mask()])).rejects.toThrow('takes 4×4');
    expect(tags(await good)).toEqual([101]);
    expect(await batcher.inpaint([], [])).toEqual([]);
    expect(fake.runs).toEqual([[1]]);
  });

  it('close runs what is queued, then closes the generator; later calls are refused', async () => {
    const fake = new FakeInpainter();
    const b = new InpaintBatcher(fake, { maxBatch: 32, maxWaitMs: 60_000 });
    const pending = b.inpaint([crop(7)], [mask()]);
    await b.close();
    expect(tags(await pending)).toEqual([107]);
    expect(fake.closed).toBe(true);
    await expect(b.inpaint([crop(8)], [mask()])).rejects.toThrow('closed');
  });

  it('refuses settings that cannot batch', () => {
    expect(() => new InpaintBatcher(new FakeInpainter(), { maxBatch: 0, maxWaitMs: 1 })).toThrow('maxBatch');
    expect(() => new InpaintBatcher(new FakeInpainter(), { maxBatch: 1, maxWaitMs: -1 })).toThrow('maxWaitMs');
  });
});
