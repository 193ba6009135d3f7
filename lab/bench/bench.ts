// `unmask bench`: throughput and latency of the service against the ceiling (ffmpeg decode alone)
// and against the peer a user would otherwise write (a plain face-api loop on every frame).
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { alignToTemplate } from '../../src/align/warp.ts';
import type { Config } from '../../src/config.ts';
import { GalleryIndex } from '../../src/match/gallery-index.ts';
import { loadFaceApi } from '../tfjs/runtime.ts';
import { loadModels, type Models } from '../../src/models/registry.ts';
import { Pipeline } from '../../src/pipeline/index.ts';
import { CameraSource } from '../../src/source/camera.ts';
import { ffmpegPath } from '../../src/source/ffmpeg-path.ts';
import type { Identity, RgbImage } from '../../src/types.ts';

export interface BenchOptions {
  video: string;
  width: number;
  height: number;
  /** The service's detection rate per camera. */
  fps: number;
  /** Camera counts to try in the live runs. */
  cameraCounts: number[];
  /** Seconds of each live run. */
  runSeconds: number;
  /** Seconds of the clip the peer loop processes (every frame). */
  peerSeconds: number;
  config: Config;
  progress: (line: string) => void;
}

export interface Percentiles {
  p50: number;
  p95: number;
  n: number;
}

export interface LiveRun {
  cameras: number;
  wallSeconds: number;
  framesIn: number;
  framesProcessed: number;
  framesDropped: number;
  /** Detections per second per camera actually done. */
  detectionsPerSecondPerCamera: number;
  /** Camera-seconds processed per wall second (at the configured detection rate). */
  realTimeFactor: number;
  sustained: boolean;
  alerts: number;
  frameToAlertMs: Percentiles;
}

export interface BenchResult {
  machine: { cpus: number; cpuModel: string; node: string };
  video: { file: string; width: number; height: number; sourceFps: number; seconds: number };
  decodeOnlyFps: number;
  peer: { fps: number; frames: number; realTimeFactor: number; identities: string[] };
  service: {
    detector: string;
    detectionFps: number;
    workers: number;
    runs: LiveRun[];
    camerasSustained: number;
    realTimeFactor: number;
    identities: string[];
    stageMs: Record<string, Percentiles>;
    frameToAlertMs: Percentiles;
  };
  gallery: { identities: number; source: string };
}

export function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { p50: NaN, p95: NaN, n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  return { p50: round(at(0.5)), p95: round(at(0.95)), n: values.length };
}

const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

/** Runs ffmpeg on the clip and hands over raw RGB frames at the given size (all frames, or at `fps`). */
function decodeFrames(video: string, width: number, height: number, fps: number | null, onFrame: (f: RgbImage) => void): Promise<{ frames: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const filters = [fps ? `fps=${fps}` : null, `scale=${width}:${height}`].filter(Boolean).join(',');
    const start = performance.now();
    const ff = spawn(ffmpegPath(), ['-v', 'error', '-nostdin', '-i', video, '-vf', filters, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
    const frameBytes = width * height * 3;
    let pending: Buffer = Buffer.alloc(0);
    let frames = 0;
    let stderr = '';
    ff.stderr.on('data', (d) => (stderr += d));
    ff.stdout.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= frameBytes) {
        onFrame({ width, height, data: new Uint8Array(pending.subarray(0, frameBytes)) });
        pending = pending.subarray(frameBytes);
        frames++;
      }
    });
    ff.on('error', reject);
    ff.on('close', (code) =>
      code === 0 ? resolve({ frames, seconds: (performance.now() - start) / 1000 }) : reject(new Error(`ffmpeg failed on ${video}: ${stderr.trim()}`)),
    );
  });
}

/** Frame rate (from ffmpeg's stream info) and duration (frames decoded / rate) of the clip. */
async function probeVideo(video: string): Promise<{ fps: number; seconds: number }> {
  let frames = 0;
  await decodeFrames(video, 32, 18, null, () => frames++);
  const info = await new Promise<string>((resolve, reject) => {
    const ff = spawn(ffmpegPath(), ['-hide_banner', '-nostdin', '-i', video]);
    let text = '';
    ff.stderr.on('data', (d) => (text += d));
    ff.on('error', reject);
    ff.on('close', () => resolve(text));
  });
  const fps = Number(/([\d.]+) fps/.exec(info)?.[1]);
  if (!(fps > 0)) throw new Error(`cannot read the frame rate of ${video}`);
  return { fps, seconds: frames / fps };
}

/** face-api's own threshold for its 128-D descriptors: what the peer loop matches at. */
const PEER_THRESHOLD = 0.92;

/**
 * The gallery of the bench: the people of the clip itself. Faces found at 1 fps (face-api's SSD, the
 * accurate detector) are grouped by the service's embedding; each group seen at least twice becomes
 * an identity, enrolled from its best detection — with the service's embedding for the service, and
 * face-api's descriptor of the same detection for the peer loop.
 */
async function clipGallery(models: Models, opts: BenchOptions): Promise<{ index: GalleryIndex; peerIndex: GalleryIndex; identities: Identity[] }> {
  const faceapi = await loadFaceApi();
  const frames: RgbImage[] = [];
  await decodeFrames(opts.video, opts.width, opts.height, 1, (f) => frames.push(f));
  type Best = { score: number; embedding: Float32Array; descriptor: Float32Array };
  const clusters: { centroid: Float32Array; members: number; best: Best }[] = [];
  const ssd = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5 });
  for (const frame of frames) {
    const input = faceapi.tf.tensor3d(frame.data, [frame.height, frame.width, 3], 'int32');
    const found = await faceapi.detectAllFaces(input as never, ssd).withFaceLandmarks().withFaceDescriptors();
    input.dispose();
    for (const f of found) {
      if (f.detection.box.width < 48) continue;
      const landmarks = f.landmarks.positions.map((p) => ({ x: p.x, y: p.y }));
      const [e] = await models.recognizer.embed([alignToTemplate(frame, landmarks, models.recognizer.template).crop]);
      const best: Best = { score: f.detection.score, embedding: normalised(e), descriptor: normalised(f.descriptor) };
      const home = clusters.find((c) => dot(c.centroid, best.embedding) >= opts.config.match.threshold);
      if (home) {
        home.members++;
        if (best.score > home.best.score) home.best = best;
      } else clusters.push({ centroid: best.embedding, members: 1, best });
    }
  }
  const index = new GalleryIndex(models.recognizer);
  const peerIndex = new GalleryIndex({ id: 'faceapi-frnet-tfjs', version: '1.7.15', dims: 128 });
  const identities: Identity[] = [];
  clusters
    .filter((c) => c.members >= 2)
    .forEach((c, i) => {
      const identity = { id: i + 1, name: `clip person ${i + 1}` };
      identities.push(identity);
      index.add(i + 1, identity, c.best.embedding);
      peerIndex.add(i + 1, identity, c.best.descriptor);
    });
  return { index, peerIndex, identities };
}

function normalised(v: Float32Array): Float32Array {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** The peer: detect + landmarks + descriptor on every frame, in one thread, matched on the same people. */
async function peerLoop(index: GalleryIndex, opts: BenchOptions): Promise<BenchResult['peer']> {
  const faceapi = await loadFaceApi();
  const frames: RgbImage[] = [];
  await decodeFrames(opts.video, opts.width, opts.height, null, (f) => frames.push(f));
  const { fps: sourceFps } = await probeVideo(opts.video);
  const limit = Math.min(frames.length, Math.round(opts.peerSeconds * sourceFps));
  const names = new Set<string>();
  const hits = new Map<string, number>();
  const start = performance.now();
  for (let i = 0; i < limit; i++) {
    const input = faceapi.tf.tensor3d(frames[i].data, [opts.height, opts.width, 3], 'int32');
    const found = await faceapi.detectAllFaces(input as never).withFaceLandmarks().withFaceDescriptors();
    input.dispose();
    for (const f of found) {
      const [best] = index.search(f.descriptor, 1);
      if (best && best.score >= PEER_THRESHOLD) hits.set(best.identity.name, (hits.get(best.identity.name) ?? 0) + 1);
    }
    if (i % 30 === 29) opts.progress(`peer loop: ${i + 1}/${limit} frames`);
  }
  const seconds = (performance.now() - start) / 1000;
  // Like the service's vote, a name counts once it is matched on two frames or more.
  for (const [name, n] of hits) if (n >= 2) names.add(name);
  const fps = limit / seconds;
  return { fps: round(fps), frames: limit, realTimeFactor: round(fps / sourceFps, 3), identities: [...names].sort() };
}

/** N cameras, each the clip looped in real time, through the real pipeline, for `runSeconds`. */
async function liveRun(n: number, models: Models, index: GalleryIndex, opts: BenchOptions, stageMs: Map<string, number[]>, names: Set<string>, latencies: number[]): Promise<LiveRun> {
  const config: Config = { ...opts.config, match: { ...opts.config.match, cooldownSec: 0 } };
  const runLatencies: number[] = [];
  const pipeline = new Pipeline({
    config,
    detector: models.detector,
    recognizer: models.recognizer,
    gallery: { search: (e, k) => index.search(e, k), identity: (id) => ({ id, name: `clip person ${id}` }) },
    publish: (alert) => {
      if (alert.identity) names.add(alert.identity.name);
    },
    onStageTime: (stage, ms) => {
      const list = stageMs.get(stage) ?? [];
      list.push(ms);
      stageMs.set(stage, list);
    },
    onAlertLatency: (ms) => runLatencies.push(ms),
  });
  const sources: CameraSource[] = [];
  for (let i = 0; i < n; i++) {
    const camera = { name: `bench${i}`, url: opts.video, loop: true, realtime: true, fps: opts.fps, width: opts.width, height: opts.height, enabled: true };
    const source = new CameraSource(camera, config.source);
    sources.push(source);
    pipeline.addCamera(camera.name, source.frames$);
    source.start();
  }
  // Measure from the first frame of every camera, so ffmpeg's start-up is not counted.
  const waitStart = Date.now();
  while (sources.some((s) => s.status().framesIn === 0) && Date.now() - waitStart < 15_000) await sleep(50);
  const before = pipeline.stats();
  const t0 = performance.now();
  await sleep(opts.runSeconds * 1000);
  const wallSeconds = (performance.now() - t0) / 1000;
  const after = pipeline.stats();
  await Promise.all(sources.map((s) => s.stop()));
  pipeline.stop();
  const sum = (key: 'framesIn' | 'framesProcessed' | 'framesDropped' | 'alerts') =>
    Object.keys(after).reduce((acc, cam) => acc + after[cam][key] - (before[cam]?.[key] ?? 0), 0);
  const framesIn = sum('framesIn');
  const framesProcessed = sum('framesProcessed');
  const framesDropped = sum('framesDropped');
  const perCamera = framesProcessed / n / wallSeconds;
  latencies.push(...runLatencies);
  return {
    cameras: n,
    wallSeconds: round(wallSeconds),
    framesIn,
    framesProcessed,
    framesDropped,
    detectionsPerSecondPerCamera: round(perCamera),
    realTimeFactor: round(framesProcessed / opts.fps / wallSeconds, 2),
    // Real time: at least 95 % of the configured detection rate on every camera, at most 5 % dropped.
    sustained: framesIn > 0 && framesDropped <= 0.05 * framesIn && perCamera >= 0.95 * Math.min(opts.fps, framesIn / n / wallSeconds),
    alerts: sum('alerts'),
    frameToAlertMs: percentiles(runLatencies),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const { fps: sourceFps, seconds } = await probeVideo(opts.video);
  opts.progress(`clip: ${opts.video}, ${seconds.toFixed(1)} s at ${sourceFps} fps`);

  let decoded = 0;
  const decode = await decodeFrames(opts.video, opts.width, opts.height, null, () => decoded++);
  const decodeOnlyFps = round(decoded / decode.seconds);
  opts.progress(`decode only: ${decodeOnlyFps} fps`);

  const models = await loadModels(opts.config);
  try {
    // Each thread's first runs set up its sessions: keep that out of the figures.
    const warm: RgbImage[] = [];
    await decodeFrames(opts.video, opts.width, opts.height, 1, (f) => warm.length < 2 && warm.push(f));
    const size = models.recognizer.template.size;
    const grey: RgbImage = { width: size, height: size, data: new Uint8Array(size * size * 3).fill(128) };
    for (let round = 0; round < 2; round++)
      await Promise.all(
        Array.from({ length: models.threads * 2 }, (_, i) => Promise.all([models.detector.detect(warm[i % warm.length]), models.recognizer.embed([grey])])),
      );

    const { index, peerIndex, identities } = await clipGallery(models, opts);
    opts.progress(`gallery: ${identities.length} people of the clip`);

    const peer = await peerLoop(peerIndex, opts);
    opts.progress(`peer loop: ${peer.fps} fps, identities ${peer.identities.join(', ') || 'none'}`);

    const stageMs = new Map<string, number[]>();
    const names = new Set<string>();
    const latencies: number[] = [];
    const runs: LiveRun[] = [];
    for (const n of opts.cameraCounts) {
      const run = await liveRun(n, models, index, opts, stageMs, names, latencies);
      runs.push(run);
      opts.progress(
        `${n} camera(s): ${run.detectionsPerSecondPerCamera} det/s each, dropped ${run.framesDropped}/${run.framesIn}, ` +
          `RTF ${run.realTimeFactor}, ${run.sustained ? 'sustained' : 'NOT sustained'}`,
      );
    }
    const sustained = runs.filter((r) => r.sustained).map((r) => r.cameras);
    return {
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version },
      video: { file: opts.video, width: opts.width, height: opts.height, sourceFps, seconds: round(seconds) },
      decodeOnlyFps,
      peer,
      service: {
        detector: models.detector.id,
        detectionFps: opts.fps,
        workers: models.threads,
        runs,
        camerasSustained: sustained.length ? Math.max(...sustained) : 0,
        realTimeFactor: Math.max(...runs.map((r) => r.realTimeFactor)),
        identities: [...names].sort(),
        stageMs: Object.fromEntries([...stageMs].map(([stage, values]) => [stage, percentiles(values)])),
        frameToAlertMs: percentiles(latencies),
      },
      gallery: { identities: identities.length, source: 'people of the clip, found at 1 fps by SSD MobileNetV1 and grouped by embedding' },
    };
  } finally {
    await models.close();
  }
}

/** The bench as a markdown table. */
export function benchMarkdown(r: BenchResult, command: string): string {
  const s = r.service;
  const same = JSON.stringify(s.identities) === JSON.stringify(r.peer.identities);
  const lines = [
    `Machine: ${r.machine.cpus} × ${r.machine.cpuModel}, Node ${r.machine.node}. Clip: ${r.video.file} (${r.video.width}×${r.video.height}, ${r.video.sourceFps} fps, ${r.video.seconds} s).`,
    `Command: \`${command}\``,
    '',
    '| measure | value |',
    '|---|---|',
    `| ffmpeg decode only (the ceiling) | ${r.decodeOnlyFps} fps |`,
    `| peer: face-api detect + landmarks + descriptor on every frame, one thread | ${r.peer.fps} fps (${r.peer.realTimeFactor} of one camera) |`,
    `| service: detector, detection rate per camera, workers | ${s.detector}, ${s.detectionFps} fps, ${s.workers} |`,
    `| service: real-time factor (camera-seconds per wall second) | ${s.realTimeFactor} |`,
    `| service: cameras sustained in real time | ${s.camerasSustained} |`,
    `| identities alerted: service / peer | ${s.identities.join(', ') || 'none'} / ${r.peer.identities.join(', ') || 'none'} (${same ? 'same' : 'different'}) |`,
    `| frame-to-alert latency p50 / p95 | ${s.frameToAlertMs.p50} / ${s.frameToAlertMs.p95} ms (n=${s.frameToAlertMs.n}) |`,
    ...Object.entries(s.stageMs).map(([stage, p]) => `| stage ${stage} p50 / p95 | ${p.p50} / ${p.p95} ms (n=${p.n}) |`),
    '',
    '| cameras | det/s per camera | frames in | dropped | RTF | alerts | frame→alert p50/p95 ms | sustained |',
    '|---|---|---|---|---|---|---|---|',
    ...s.runs.map(
      (run) =>
        `| ${run.cameras} | ${run.detectionsPerSecondPerCamera} | ${run.framesIn} | ${run.framesDropped} | ${run.realTimeFactor} | ${run.alerts} | ${run.frameToAlertMs.p50} / ${run.frameToAlertMs.p95} | ${run.sustained ? 'yes' : 'no'} |`,
    ),
  ];
  return lines.join('\n') + '\n';
}
