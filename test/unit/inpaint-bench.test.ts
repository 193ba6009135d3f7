// `bench inpaint` with a fake generator: what it measures, how it loads, what it writes.
import { describe, expect, it } from 'vitest';
import {
  checkBenchOptions,
  inpaintBenchMarkdown,
  runInpaintBench,
  syntheticFaces,
  withAddedLatency,
  type BenchInpainter,
  type InpaintBenchRun,
} from '../../lab/bench/inpaint-bench.ts';
import type { OnnxModelOptions } from '../../src/models/onnx-model.ts';
import type { RgbImage } from '../../src/types.ts';

function fakeLoader() {
  const calls: number[] = [];
  const loaded: OnnxModelOptions[] = [];
  let closed = false;
  const load = async (_path: string, options: OnnxModelOptions): Promise<BenchInpainter> => {
    loaded.push(options);
    return {
      id: 'fake',
      version: 'abc',
      size: 128,
      provider: 'cpu',
      fallbacks: [],
      inpaint: async (crops: RgbImage[], masks: Uint8Array[]) => {
        expect(masks).toHaveLength(crops.length);
        calls.push(crops.length);
        return crops;
      },
      close: async () => {
        closed = true;
      },
    };
  };
  return { load, calls, loaded, closed: () => closed };
}

describe('runInpaintBench', () => {
  it('warms up, then measures each batch size at least minRuns times, on the provider asked for without fallback', async () => {
    const fake = fakeLoader();
    const r = await runInpaintBench({ model: 'm.onnx', provider: 'webgpu', batches: [1, 4], seconds: 0, minRuns: 3, warmupRuns: 2, threads: 1, load: fake.load });
    expect(fake.loaded).toEqual([{ provider: 'webgpu', fallback: false, batchSize: 4, threads: 1 }]);
    expect(fake.calls).toEqual([1, 1, 1, 1, 1, 4, 4, 4, 4, 4]);
    expect(fake.closed()).toBe(true);
    expect(r.runs.map((x) => [x.batch, x.runs, x.faces])).toEqual([
      [1, 3, 3],
      [4, 3, 12],
    ]);
    for (const run of r.runs) {
      expect(run.facesPerSecond).toBeGreaterThan(0);
      expect(run.batchMs.p95).toBeGreaterThanOrEqual(run.batchMs.p50);
    }
    expect(r.runs[0].addedLatencyMs).toBe(0);
    expect(r.provider).toEqual({ requested: 'webgpu', used: 'cpu', fallbacks: [] });
    expect(r.model).toEqual({ path: 'm.onnx', id: 'fake', version: 'abc' });
  });

  it('keeps running until the time is up', async () => {
    const fake = fakeLoader();
    const r = await runInpaintBench({ model: 'm', provider: 'cpu', batches: [2], seconds: 0.05, minRuns: 1, warmupRuns: 0, threads: 0, load: fake.load });
    expect(r.runs[0].seconds).toBeGreaterThanOrEqual(0.05);
    expect(r.runs[0].runs).toBeGreaterThan(1);
  });

  it('refuses options it cannot run with', () => {
    const ok = { batches: [1], seconds: 1, minRuns: 1, warmupRuns: 0, threads: 0 };
    expect(() => checkBenchOptions(ok)).not.toThrow();
    expect(() => checkBenchOptions({ ...ok, batches: [1, Number.NaN] })).toThrow('batch sizes');
    expect(() => checkBenchOptions({ ...ok, batches: [] })).toThrow('got none');
    expect(() => checkBenchOptions({ ...ok, minRuns: 0 })).toThrow('minRuns');
    expect(() => checkBenchOptions({ ...ok, seconds: -1 })).toThrow('seconds');
  });
});

describe('withAddedLatency', () => {
  const run = (batch: number, p50: number): InpaintBenchRun => ({
    batch,
    runs: 1,
    faces: batch,
    seconds: 1,
    facesPerSecond: batch,
    batchMs: { p50, p95: p50, mean: p50 },
    addedLatencyMs: null,
  });
  it('is each p50 minus batch 1’s, or null without batch 1', () => {
    expect(withAddedLatency([run(1, 10), run(8, 25.5)]).map((r) => r.addedLatencyMs)).toEqual([0, 15.5]);
    expect(withAddedLatency([run(8, 25)]).map((r) => r.addedLatencyMs)).toEqual([null]);
  });
  it('goes into the markdown table', () => {
    const md = inpaintBenchMarkdown({
      kind: 'inpaint',
      startedAt: '',
      machine: { cpus: 2, cpuModel: 'X', node: 'v20', onnxruntime: '1.30.0' },
      model: { path: 'm', id: 'fake', version: 'v' },
      provider: { requested: 'cpu', used: 'cpu', fallbacks: [] },
      settings: { seconds: 1, minRuns: 1, warmupRuns: 0, threads: 0, hole: 'square' },
      runs: withAddedLatency([run(1, 10), run(8, 25.5)]),
    });
    expect(md).toContain('| 8 | 8.0 | 25.5 | 25.5 | 15.5 | 1 |');
  });
});

describe('syntheticFaces', () => {
  it('gives seeded crops, each with one 48×48 hole inside the crop', () => {
    const a = syntheticFaces(3, 128, 5);
    const b = syntheticFaces(3, 128, 5);
    expect(a.crops.map((c) => c.data)).toEqual(b.crops.map((c) => c.data));
    for (const mask of a.masks) expect(mask.reduce((s, v) => s + v, 0)).toBe(48 * 48);
    expect(a.masks[0]).not.toEqual(a.masks[1]);
  });

  it('gives the lower face as the hole of a mask: below the nose, cheek to cheek, the same on every face', () => {
    const { masks } = syntheticFaces(2, 128, 5, 'mask');
    expect(masks[0]).toEqual(masks[1]);
    const at = (x: number, y: number) => masks[0][y * 128 + x];
    expect([at(64, 127), at(16, 71), at(111, 100)]).toEqual([1, 1, 1]);
    expect([at(64, 69), at(15, 100), at(112, 100)]).toEqual([0, 0, 0]);
    expect(masks[0].reduce((s, v) => s + v, 0)).toBe(96 * 58);
  });
});
