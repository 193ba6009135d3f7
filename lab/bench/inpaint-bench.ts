// `unmask bench inpaint`: inpainted faces per second of the ID-GAN generator at several batch sizes, on
// one execution provider, and what batching adds to a face's latency. The GPU bench bundle
// (scripts/gpu-bench/) runs this same module, so it imports only onnxruntime and the generator's wrapper.
import { cpus } from 'node:os';
import { env } from 'onnxruntime-node';
import { INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import type { OnnxModelOptions } from '../../src/models/onnx-model.ts';
import { OnnxInpainter } from '../../src/repair/idgan.ts';
import type { Inpainter } from '../../src/models/types.ts';
import type { ExecutionProvider, ProviderChoice, ProviderFallback } from '../../src/models/providers.ts';
import type { RgbImage } from '../../src/types.ts';

export const DEFAULT_BENCH_BATCHES = [1, 8, 32, 128];

/** Side of the white block of the paper's protocol (48 of 128). */
const HOLE = 48;
/** The `mask` hole, as fractions of the aligned crop: from below the nose to the chin, cheek to cheek. */
const MASK_HOLE = { left: 0.125, right: 0.875, top: 0.55 };

export interface BenchInpainter extends Inpainter {
  readonly provider: ExecutionProvider;
  readonly fallbacks: ProviderFallback[];
}

/** square: a 48×48 block at a seeded place (the paper's protocol); mask: the lower face from below the
 * nose, as a surgical mask covers it (the service's commonest hole, and the largest). */
export type BenchHole = 'square' | 'mask';
export const BENCH_HOLES: readonly BenchHole[] = ['square', 'mask'];

export interface InpaintBenchOptions {
  model: string;
  provider: ProviderChoice;
  /** Faces per run of the generator, each measured in turn. */
  batches: number[];
  /** Measure each batch size for at least this long… */
  seconds: number;
  /** …and at least this many runs. */
  minRuns: number;
  /** Unmeasured runs first at each batch size (graph and shader set-up for that shape). */
  warmupRuns: number;
  /** CPU threads of the session; 0 = one per core. */
  threads: number;
  /** The hole each face has (default square): the face prior inside the generator costs more the larger it is. */
  hole?: BenchHole;
  progress?: (line: string) => void;
  /** The generator's loader; tests pass a fake. Must not fall back from the provider it is given. */
  load?: (path: string, options: OnnxModelOptions) => Promise<BenchInpainter>;
}

export interface Timing {
  p50: number;
  p95: number;
  mean: number;
}

export interface InpaintBenchRun {
  batch: number;
  runs: number;
  faces: number;
  seconds: number;
  facesPerSecond: number;
  /** Wall time of one run of `batch` faces (tensors in and out included), ms. */
  batchMs: Timing;
  /** What waiting for the whole batch adds to one face, against a run of one face alone (p50, ms); null without batch 1. */
  addedLatencyMs: number | null;
}

export interface InpaintBenchResult {
  kind: 'inpaint';
  startedAt: string;
  machine: { cpus: number; cpuModel: string; node: string; onnxruntime: string };
  model: { path: string; id: string; version: string };
  provider: { requested: ProviderChoice; used: ExecutionProvider; fallbacks: ProviderFallback[] };
  settings: { seconds: number; minRuns: number; warmupRuns: number; threads: number; hole: BenchHole };
  runs: InpaintBenchRun[];
}

/** Throws on options the bench cannot run with (the CLI reports them as they are). */
export function checkBenchOptions(o: Pick<InpaintBenchOptions, 'batches' | 'seconds' | 'minRuns' | 'warmupRuns' | 'threads'>): void {
  if (!o.batches.length || o.batches.some((b) => !Number.isInteger(b) || b < 1 || b > 1024))
    throw new RangeError(`batch sizes must be whole numbers from 1 to 1024, got ${o.batches.join(',') || 'none'}`);
  if (!(o.seconds >= 0)) throw new RangeError(`seconds must be 0 or more, got ${o.seconds}`);
  if (!(Number.isInteger(o.minRuns) && o.minRuns >= 1)) throw new RangeError(`minRuns must be a whole number, 1 or more, got ${o.minRuns}`);
  if (!(Number.isInteger(o.warmupRuns) && o.warmupRuns >= 0)) throw new RangeError(`warmupRuns must be a whole number, 0 or more, got ${o.warmupRuns}`);
  if (!(Number.isInteger(o.threads) && o.threads >= 0)) throw new RangeError(`threads must be a whole number, 0 or more, got ${o.threads}`);
}

export async function runInpaintBench(options: InpaintBenchOptions): Promise<InpaintBenchResult> {
  checkBenchOptions(options);
  const progress = options.progress ?? (() => {});
  const load = options.load ?? ((path, o) => OnnxInpainter.load(path, o));
  const largest = Math.max(...options.batches);
  // fallback false: a figure under a provider's name must be that provider's.
  const inpainter = await load(options.model, { provider: options.provider, fallback: false, batchSize: largest, threads: options.threads });
  const startedAt = new Date().toISOString();
  progress(`${options.model} on ${inpainter.provider}${inpainter.fallbacks.length ? ` (not started: ${inpainter.fallbacks.map((f) => f.provider).join(', ')})` : ''}`);
  const runs: InpaintBenchRun[] = [];
  try {
    const { crops, masks } = syntheticFaces(largest, INPAINT_TEMPLATE.size, 1, options.hole ?? 'square');
    for (const batch of options.batches) {
      const c = crops.slice(0, batch);
      const m = masks.slice(0, batch);
      for (let i = 0; i < options.warmupRuns; i++) await inpainter.inpaint(c, m);
      const times: number[] = [];
      const start = performance.now();
      while (times.length < options.minRuns || performance.now() - start < options.seconds * 1000) {
        const t = performance.now();
        const out = await inpainter.inpaint(c, m);
        times.push(performance.now() - t);
        if (out.length !== batch) throw new Error(`the generator returned ${out.length} faces for ${batch}`);
      }
      const seconds = (performance.now() - start) / 1000;
      const run = summarise(batch, times, seconds);
      runs.push(run);
      progress(`batch ${batch}: ${run.facesPerSecond.toFixed(1)} faces/s, ${run.batchMs.p50.toFixed(1)} ms per batch (p50, ${run.runs} runs)`);
    }
  } finally {
    await inpainter.close();
  }
  return {
    kind: 'inpaint',
    startedAt,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, onnxruntime: env.versions.node ?? 'unknown' },
    model: { path: options.model, id: inpainter.id, version: inpainter.version },
    provider: { requested: options.provider, used: inpainter.provider, fallbacks: inpainter.fallbacks },
    settings: { seconds: options.seconds, minRuns: options.minRuns, warmupRuns: options.warmupRuns, threads: options.threads, hole: options.hole ?? 'square' },
    runs: withAddedLatency(runs),
  };
}

function summarise(batch: number, times: number[], seconds: number): InpaintBenchRun {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const round = (v: number) => Math.round(v * 100) / 100;
  const faces = batch * times.length;
  return {
    batch,
    runs: times.length,
    faces,
    seconds: round(seconds),
    facesPerSecond: round(faces / seconds),
    batchMs: { p50: round(at(0.5)), p95: round(at(0.95)), mean: round(times.reduce((s, t) => s + t, 0) / times.length) },
    addedLatencyMs: null,
  };
}

/** Each batch size's p50 against batch 1's: what a face waits for the others of its batch. */
export function withAddedLatency(runs: InpaintBenchRun[]): InpaintBenchRun[] {
  const single = runs.find((r) => r.batch === 1);
  return runs.map((r) => ({ ...r, addedLatencyMs: single ? Math.round((r.batchMs.p50 - single.batchMs.p50) * 100) / 100 : null }));
}

/**
 * `count` face-sized crops of seeded noise over a smooth gradient, each with its hole: a 48×48 block at a
 * seeded place, or the lower face below the nose (`mask`). The generator's cost does not depend on what
 * the pixels show, only on how many there are and, through the face prior, on how many are in the hole.
 */
export function syntheticFaces(count: number, size: number, seed = 1, hole: BenchHole = 'square'): { crops: RgbImage[]; masks: Uint8Array[] } {
  let state = seed >>> 0 || 1;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const crops: RgbImage[] = [];
  const masks: Uint8Array[] = [];
  for (let n = 0; n < count; n++) {
    const data = new Uint8Array(size * size * 3);
    for (let p = 0; p < size * size; p++) {
      const base = (128 * (p % size)) / size + 64;
      for (let ch = 0; ch < 3; ch++) data[p * 3 + ch] = Math.min(255, Math.floor(base + next() * 32));
    }
    const mask = new Uint8Array(size * size);
    if (hole === 'mask') {
      const [x0, x1, y0] = [Math.round(size * MASK_HOLE.left), Math.round(size * MASK_HOLE.right), Math.round(size * MASK_HOLE.top)];
      for (let y = y0; y < size; y++) mask.fill(1, y * size + x0, y * size + x1);
    } else {
      const x0 = Math.floor(next() * (size - HOLE + 1));
      const y0 = Math.floor(next() * (size - HOLE + 1));
      for (let y = y0; y < y0 + HOLE; y++) mask.fill(1, y * size + x0, y * size + x0 + HOLE);
    }
    crops.push({ width: size, height: size, data });
    masks.push(mask);
  }
  return { crops, masks };
}

/** The result as a markdown table (the CLI prints it; the README quotes it). */
export function inpaintBenchMarkdown(r: InpaintBenchResult): string {
  const lines = [
    `Inpainting bench: ${r.model.path} (${r.model.version}) on **${r.provider.used}**, ${r.machine.cpus} × ${r.machine.cpuModel}, Node ${r.machine.node}, onnxruntime ${r.machine.onnxruntime}; ${r.settings.hole === 'mask' ? 'holes: the lower face (a surgical mask)' : 'holes: 48×48 squares'}`,
    '',
    '| batch | faces/s | ms per batch (p50) | p95 | added latency vs batch 1 (ms) | runs |',
    '|---:|---:|---:|---:|---:|---:|',
    ...r.runs.map((x) => `| ${x.batch} | ${x.facesPerSecond.toFixed(1)} | ${x.batchMs.p50.toFixed(1)} | ${x.batchMs.p95.toFixed(1)} | ${x.addedLatencyMs === null ? '–' : x.addedLatencyMs.toFixed(1)} | ${x.runs} |`),
  ];
  return lines.join('\n') + '\n';
}
