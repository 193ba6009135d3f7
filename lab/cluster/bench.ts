// `unmask bench cluster`: the cluster roles on Redis Streams, measured on this one machine.
//   - what crosses the broker per face and per decision (bytes), and what it costs (encode, decode,
//     the round trip through Redis, the commit script), unloaded;
//   - faces per second through real infer workers (1, 2, …) draining the same faces;
//   - the same with a stand-in model of fixed cost and no CPU, at 1, 2, 4, 8 workers: how the design
//     scales where this machine's cores cannot;
//   - frame-to-alert latency of the single process against ingest + infer + gateway processes on the
//     same video, with the broker's share of it.
// Everything runs here: a redis-server of its own, workers as processes of their own.
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { lastValueFrom, of } from 'rxjs';
import sharp from 'sharp';
import WebSocket from 'ws';
import { ARCFACE_TEMPLATE, INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { alignToTemplate } from '../../src/align/warp.ts';
import { faceEntries, regionTemplates } from '../../src/cluster/ingest.ts';
import { ClusterKeys, ensureGroup, INFER_GROUP, readEntries } from '../../src/cluster/redis.ts';
import { decodeFaceEntry, encodeFaceEntry, shiftObservation, type FaceEntry, type RegionEncoding } from '../../src/cluster/wire.ts';
import { parseConfig, type Config } from '../../src/config.ts';
import { Enroller } from '../../src/gallery/enroll.ts';
import { PostgresGallery } from '../../src/gallery/postgres.ts';
import { GalleryStore } from '../../src/gallery/store.ts';
import { GalleryIndex } from '../../src/match/gallery-index.ts';
import { loadServiceModels, type ServiceModels } from '../../src/models/registry.ts';
import { faceStages } from '../../src/pipeline/index.ts';
import type { FaceObservation } from '../../src/pipeline/messages.ts';
import { ffmpegPath } from '../../src/source/ffmpeg-path.ts';
import type { RgbImage } from '../../src/types.ts';
import { percentiles, type Percentiles } from '../bench/bench.ts';
import { havePostgres, LocalPostgres, LocalRedis, noPostgresReason, startRoleProcess, stopProcess, type RoleProcess } from './processes.ts';
import type { StubInferOptions } from './stub-infer.ts';

export interface ClusterBenchOptions {
  lfwDir: string;
  /** Where the videos, galleries and configs go. */
  workDir: string;
  /** Face entries each real infer run drains. */
  faces: number;
  /** Real infer worker counts. */
  inferWorkers: number[];
  /** The stand-in model's time per face. */
  stubCostMs: number;
  stubWorkers: number[];
  /** Face entries per stand-in worker in each run. */
  stubFacesPerWorker: number;
  /** Seconds of alerts each latency run records. */
  latencySeconds: number;
  /** Synthetic samples in the PostgreSQL gallery run. */
  gallerySamples: number;
  progress: (line: string) => void;
}

export interface ClusterBenchResult {
  kind: 'cluster';
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; loadAverageAtStart: number[]; note: string };
  wire: {
    regionPx: Percentiles;
    entryBytes: { raw: Percentiles; jpeg: Percentiles };
    /** The two aligned crops as they would travel instead (raw, and JPEG at the same quality). */
    cropsBytes: { raw: number; jpeg: Percentiles };
    encodeMs: { raw: Percentiles; jpeg: Percentiles };
    decodeMs: { raw: Percentiles; jpeg: Percentiles };
    /** XADD of one raw entry then XREADGROUP of it, one at a time, on loopback. */
    roundTripMs: Percentiles;
    /** The commit script (vote, cool-down, events entry, ack, delete), from a stand-in worker at 1 worker. */
    commitMs: Percentiles;
    eventBytes: { alert: Percentiles; attempt: Percentiles };
    /** The main recognizer's embedding of the same face from the raw region and from its JPEG (cosine), and how often the route agreed. */
    jpegAgreement: { faces: number; minCosine: number; meanCosine: number; sameRoute: number };
  };
  infer: { workers: number; faces: number; seconds: number; facesPerSecond: number }[];
  stub: { costMs: number; runs: { workers: number; region: RegionEncoding; faces: number; seconds: number; facesPerSecond: number; ideal: number; redisCpuMsPerFace: number; workerCpuMsPerFace: number }[] };
  gallery?: {
    /** Synthetic 512-D samples in PostgreSQL. */
    samples: number;
    /** Loading them all (what each infer worker does at start), s. */
    loadSeconds: number;
    /** One enrollment written (addSample) until another process's index has it, ms. */
    notifyToIndexMs: Percentiles;
    /** One brute-force search of the in-memory index (k = 3), by gallery size. */
    searchMs: { samples: number; ms: Percentiles; memoryMiB: number }[];
  };
  latency: {
    video: string;
    single: { frameToAlertMs: Percentiles; alerts: number };
    cluster: { frameToAlertMs: Percentiles; alerts: number; facesHopMeanMs: number; eventsHopMs: Percentiles };
  };
}

const PEOPLE = 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The first PEOPLE LFW people with three photos or more (sorted): photo 0 on camera, 1 and 2 enrolled. */
function people(lfwDir: string): string[] {
  return readdirSync(lfwDir)
    .sort()
    .filter((name) => readdirSync(join(lfwDir, name)).length >= 3)
    .slice(0, PEOPLE);
}

const photo = (lfwDir: string, name: string, k: number) => join(lfwDir, name, readdirSync(join(lfwDir, name)).sort()[k]);

/** 640×360 grey with two people's first photos at 180 px, side by side. */
async function twoPeople(lfwDir: string, left: string, right: string): Promise<Buffer> {
  const at = async (name: string) => sharp(photo(lfwDir, name, 0)).resize(180, 180).png().toBuffer();
  return sharp({ create: { width: 640, height: 360, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .composite([
      { input: await at(left), left: 90, top: 90 },
      { input: await at(right), left: 370, top: 90 },
    ])
    .png()
    .toBuffer();
}

async function rgb(png: Buffer): Promise<RgbImage> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

/** A video of the people two at a time, 2 s a pair, in a loop of PEOPLE pairs. */
async function makeVideo(lfwDir: string, names: string[], dir: string): Promise<string> {
  const frames: string[] = [];
  for (let i = 0; i < names.length; i++) {
    const file = join(dir, `pair-${i}.png`);
    await sharp(await twoPeople(lfwDir, names[i], names[(i + 3) % names.length])).toFile(file);
    frames.push(file);
  }
  const out = join(dir, 'people.mp4');
  const inputs = frames.flatMap((f) => ['-loop', '1', '-t', '2', '-i', f]);
  const filter = frames.map((_, i) => `[${i}:v]fps=10,setsar=1[v${i}]`).join(';') + ';' + frames.map((_, i) => `[v${i}]`).join('') + `concat=n=${frames.length}:v=1:a=0[out]`;
  execFileSync(ffmpegPath(), ['-v', 'error', '-y', ...inputs, '-filter_complex', filter, '-map', '[out]', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', out]);
  return out;
}

/**
 * The gallery (the people from their 2nd and 3rd photos) and the face entries an ingest worker would
 * send for the video's frames: real detections, tracks of up to 5 attempts over 4 cameras.
 */
async function prepare(opts: ClusterBenchOptions, names: string[], config: Config): Promise<{ gallery: string; entries: FaceEntry[]; jpegAgreement: ClusterBenchResult['wire']['jpegAgreement'] }> {
  const models = await loadServiceModels(config);
  try {
    const gallery = join(opts.workDir, 'gallery.db');
    const store = GalleryStore.open(gallery);
    const enroller = new Enroller({ store, detector: models.enrollDetector, recognizer: models.recognizer, settings: config.gallery });
    for (const name of names) {
      const identity = store.findIdentityByName(name.replace(/_/g, ' ')) ?? store.createIdentity(name.replace(/_/g, ' '));
      for (const k of [1, 2]) await enroller.enroll(identity.id, readFileSync(photo(opts.lfwDir, name, k))).catch(() => undefined);
    }
    store.close();
    const faces: { image: RgbImage; observation: Omit<FaceObservation, 'camera' | 'trackId' | 'frameSeq' | 'frameTime'> }[] = [];
    for (let i = 0; i < names.length; i++) {
      const image = await rgb(await twoPeople(opts.lfwDir, names[i], names[(i + 3) % names.length]));
      for (const face of await models.detector.detect(image)) faces.push({ image, observation: { face, quality: 0.9 } });
    }
    if (!faces.length) throw new Error('no face found on the bench frames');
    const templates = regionTemplates(config);
    const count = Math.max(opts.faces, ...opts.stubWorkers.map((w) => w * opts.stubFacesPerWorker));
    // 4 cameras, 40 tracks: a track's next attempt comes 40 entries later, as attempts of one track
    // come a few hundred ms apart and faces of many tracks in between.
    const entries = Array.from({ length: count }, (_, j) => {
      const trackId = 1 + (j % 40);
      // A track shows one person all along (a new person on a track would start its vote over).
      const { image, observation } = faces[(trackId - 1) % faces.length];
      const camera = `bench-${j % 4}`;
      const full = { ...observation, camera, trackId, frameSeq: j, frameTime: Date.now() };
      return faceEntries({ frame: { camera, seq: j, time: full.frameTime, image }, faces: [full], closedTracks: [] }, 1, templates, Date.now())[0];
    });
    return { gallery, entries, jpegAgreement: await jpegAgreement(entries.slice(0, faces.length), config, models) };
  } finally {
    await models.close();
  }
}

/** The same faces through align → repair → embed from the raw region and from its JPEG: how far the embeddings move. */
async function jpegAgreement(entries: FaceEntry[], config: Config, models: ServiceModels): Promise<ClusterBenchResult['wire']['jpegAgreement']> {
  const stages = faceStages({ config, ...models, gallery: { search: () => [], searchUpperFace: () => [], identity: () => undefined } }, () => undefined);
  const embed = async (entry: FaceEntry) => {
    const { observation, region } = entry.face!;
    const local = shiftObservation(observation, -region.x, -region.y);
    const message = { frame: { camera: 'x', seq: 0, time: 0, image: region.image }, faces: [local], closedTracks: [] };
    return (await lastValueFrom(of(message).pipe(stages))).faces[0];
  };
  const cosines: number[] = [];
  let sameRoute = 0;
  for (const entry of entries) {
    const raw = await embed(entry);
    const jpeg = await embed(await decodeFaceEntry(await encodeFaceEntry(entry, 'jpeg')));
    let dot = 0, a = 0, b = 0;
    for (let i = 0; i < raw.embedding.length; i++) (dot += raw.embedding[i] * jpeg.embedding[i]), (a += raw.embedding[i] ** 2), (b += jpeg.embedding[i] ** 2);
    cosines.push(dot / Math.sqrt(a * b));
    if (raw.face.route === jpeg.face.route) sameRoute++;
  }
  return { faces: entries.length, minCosine: round(Math.min(...cosines), 4), meanCosine: round(cosines.reduce((s, c) => s + c, 0) / cosines.length, 4), sameRoute };
}

const timedMs = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const start = performance.now();
  const value = await fn();
  return [value, performance.now() - start];
};

async function measureWire(entries: FaceEntry[], redis: Redis): Promise<Omit<ClusterBenchResult['wire'], 'commitMs' | 'eventBytes' | 'jpegAgreement'>> {
  const sample = entries.slice(0, 60);
  const raw: number[] = [], jpeg: number[] = [], encRaw: number[] = [], encJpeg: number[] = [], decRaw: number[] = [], decJpeg: number[] = [], px: number[] = [], cropsJpeg: number[] = [];
  for (const entry of sample) {
    const [rawBytes, er] = await timedMs(() => encodeFaceEntry(entry));
    const [jpegBytes, ej] = await timedMs(() => encodeFaceEntry(entry, 'jpeg'));
    decRaw.push((await timedMs(() => decodeFaceEntry(rawBytes)))[1]);
    decJpeg.push((await timedMs(() => decodeFaceEntry(jpegBytes)))[1]);
    raw.push(rawBytes.length), jpeg.push(jpegBytes.length), encRaw.push(er), encJpeg.push(ej);
    const { image } = entry.face!.region;
    px.push(image.width * image.height);
    // The crops an ingest worker could have sent instead, as JPEG at the region's quality.
    const { observation, region } = entry.face!;
    const landmarks = observation.face.landmarks.map((p) => ({ x: p.x - region.x, y: p.y - region.y }));
    const crops = [INPAINT_TEMPLATE, ARCFACE_TEMPLATE].map((t) => alignToTemplate(image, landmarks, t).crop);
    const sizes = await Promise.all(crops.map((c) => sharp(c.data, { raw: { width: c.width, height: c.height, channels: 3 } }).jpeg({ quality: 95 }).toBuffer()));
    cropsJpeg.push(sizes.reduce((s, b) => s + b.length, 0));
  }
  const keys = new ClusterKeys('bench-roundtrip');
  await ensureGroup(redis, keys.faces, INFER_GROUP);
  const roundTrip: number[] = [];
  const bytes = await encodeFaceEntry(entries[0]);
  for (let i = 0; i < 200; i++) {
    const start = performance.now();
    await redis.xadd(keys.faces, '*', 'f', bytes);
    const reply = await redis.callBuffer('XREADGROUP', 'GROUP', INFER_GROUP, 'bench', 'COUNT', 1, 'STREAMS', keys.faces, '>');
    roundTrip.push(performance.now() - start);
    const [entry] = readEntries(reply);
    await redis.multi().xack(keys.faces, INFER_GROUP, entry.id).xdel(keys.faces, entry.id).exec();
  }
  return {
    regionPx: percentiles(px),
    entryBytes: { raw: percentiles(raw), jpeg: percentiles(jpeg) },
    cropsBytes: { raw: (INPAINT_TEMPLATE.size ** 2 + ARCFACE_TEMPLATE.size ** 2) * 3, jpeg: percentiles(cropsJpeg) },
    encodeMs: { raw: percentiles(encRaw), jpeg: percentiles(encJpeg) },
    decodeMs: { raw: percentiles(decRaw), jpeg: percentiles(decJpeg) },
    roundTripMs: percentiles(roundTrip),
  };
}

/** Adds the entries to the faces stream (in pipelines of 50) and resolves with the time once the workers deleted the last one. */
async function drain(redis: Redis, keys: ClusterKeys, entries: Buffer[], timeoutMs: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < entries.length; i += 50) {
    const batch = redis.pipeline();
    for (const bytes of entries.slice(i, i + 50)) batch.xadd(keys.faces, '*', 'f', bytes);
    await batch.exec();
  }
  while ((await redis.xlen(keys.faces)) > 0) {
    if (performance.now() - start > timeoutMs) throw new Error(`the workers did not drain ${entries.length} entries within ${timeoutMs} ms`);
    await sleep(20);
  }
  return (performance.now() - start) / 1000;
}

/** Redis's own CPU time so far (user + system), s. */
async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}

interface StubProcess {
  child: ChildProcess;
  lines: string[];
}

function startStub(options: StubInferOptions): Promise<StubProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'stub-infer.ts'), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stub: StubProcess = { child, lines: [] };
  child.stdout!.on('data', (d: Buffer) => stub.lines.push(...d.toString().split('\n').filter(Boolean)));
  child.stderr!.on('data', (d: Buffer) => stub.lines.push(...d.toString().split('\n').filter(Boolean)));
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (stub.lines.includes('ready')) (clearInterval(timer), resolve(stub));
      else if (child.exitCode !== null) (clearInterval(timer), reject(new Error(`stub worker exited: ${stub.lines.join('\n')}`)));
    }, 50);
  });
}

/**
 * The stand-in workers at each count on raw regions, then at the largest count on JPEG regions (what
 * the bytes cost Redis).
 */
async function stubRuns(opts: ClusterBenchOptions, redisUrl: string, redis: Redis, entries: Record<RegionEncoding, Buffer[]>): Promise<{ runs: ClusterBenchResult['stub']['runs']; commits: number[] }> {
  const runs: ClusterBenchResult['stub']['runs'] = [];
  let commits: number[] = [];
  const plan: [number, RegionEncoding][] = [...opts.stubWorkers.map((w): [number, RegionEncoding] => [w, 'raw']), [Math.max(...opts.stubWorkers), 'jpeg']];
  for (const [workers, region] of plan) {
    const encoded = entries[region];
    const keys = new ClusterKeys(`bench-stub-${workers}-${region}`);
    await ensureGroup(redis, keys.faces, INFER_GROUP);
    const stubs = await Promise.all(
      Array.from({ length: workers }, (_, i) => startStub({ redis: redisUrl, prefix: keys.prefix, id: `stub-${i}`, costMs: opts.stubCostMs, concurrency: 16 })),
    );
    const faces = workers * opts.stubFacesPerWorker;
    const cpuBefore = await redisCpuSeconds(redis);
    const seconds = await drain(redis, keys, encoded.slice(0, faces), 300_000);
    const redisCpuMsPerFace = round((((await redisCpuSeconds(redis)) - cpuBefore) * 1000) / faces, 3);
    await Promise.all(stubs.map((s) => stopProcess(s.child)));
    const stats = stubs.map((s) => JSON.parse(s.lines.find((l) => l.startsWith('stats '))?.slice(6) ?? '{"commits":[],"cpuMs":NaN}') as { commits: number[]; cpuMs: number });
    if (workers === 1 && region === 'raw') commits = stats.flatMap((s) => s.commits);
    const workerCpuMsPerFace = round(stats.reduce((sum, s) => sum + s.cpuMs, 0) / faces, 2);
    const run = { workers, region, faces, seconds: round(seconds, 2), facesPerSecond: round(faces / seconds), ideal: round((workers * 1000) / opts.stubCostMs), redisCpuMsPerFace, workerCpuMsPerFace };
    opts.progress(`stub model ${opts.stubCostMs} ms/face, ${workers} worker(s), ${region} regions: ${run.facesPerSecond} faces/s (ideal ${run.ideal}), CPU a face: Redis ${redisCpuMsPerFace} ms, workers ${workerCpuMsPerFace} ms`);
    runs.push(run);
    await redis.del(keys.faces, keys.events);
  }
  return { runs, commits };
}

function roleConfig(opts: ClusterBenchOptions, redisUrl: string, prefix: string, gallery: string, id: string, video: string): Record<string, unknown> {
  return {
    cameras: [{ name: 'bench', url: video, loop: true, fps: 5, width: 640, height: 360 }],
    match: { cooldownSec: 0 },
    gallery: { path: gallery, reloadIntervalMs: 1000 },
    events: { path: join(opts.workDir, `events-${id}.db`) },
    server: { port: 0, apiKey: 'bench-cluster-key-0123456789' },
    ui: { enabled: false },
    cluster: { redis: redisUrl, prefix, id },
    log: { level: 'warn' },
  };
}

async function inferRuns(opts: ClusterBenchOptions, redisUrl: string, redis: Redis, encoded: Buffer[], gallery: string, video: string): Promise<{ runs: ClusterBenchResult['infer']; events: Buffer[][] }> {
  const runs: ClusterBenchResult['infer'] = [];
  const events: Buffer[][] = [];
  for (const workers of opts.inferWorkers) {
    const prefix = `bench-infer-${workers}`;
    const keys = new ClusterKeys(prefix);
    const started: RoleProcess[] = [];
    try {
      for (let i = 0; i < workers; i++) started.push(await startRoleProcess('infer', `infer-${i}`, roleConfig(opts, redisUrl, prefix, gallery, `infer-${i}`, video), opts.workDir));
      // The first entries warm the models up (first runs of a session are slow): not counted.
      await drain(redis, keys, encoded.slice(0, 8 * workers), 300_000);
      const faces = encoded.slice(0, opts.faces);
      const seconds = await drain(redis, keys, faces, 600_000);
      const run = { workers, faces: faces.length, seconds: round(seconds, 2), facesPerSecond: round(faces.length / seconds, 2) };
      opts.progress(`real infer, ${workers} worker(s): ${run.facesPerSecond} faces/s`);
      runs.push(run);
      const raw = (await redis.callBuffer('XRANGE', keys.events, '-', '+')) as [Buffer, Buffer[]][];
      events.push(...raw.map(([, fields]) => fields));
    } finally {
      await Promise.all(started.map((w) => stopProcess(w.child)));
    }
  }
  return { runs, events };
}

/** Alerts a WebSocket subscriber gets for `seconds` after the first: frame-to-alert of each, in ms. */
async function alertLatencies(url: string, seconds: number, firstWithinMs: number): Promise<number[]> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/alerts?api_key=bench-cluster-key-0123456789`);
  const latencies: number[] = [];
  let first = 0;
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data));
    if (msg.type !== 'alert') return;
    first ||= Date.now();
    latencies.push(Date.now() - Date.parse(msg.frameTime));
  });
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  const start = Date.now();
  while (!first && Date.now() - start < firstWithinMs) await sleep(100);
  if (!first) throw new Error(`no alert within ${firstWithinMs} ms`);
  await sleep(seconds * 1000);
  ws.close();
  return latencies;
}

/** The events stream as a gateway reads it: from each alert entry's id (its time in Redis) to its arrival here. */
function followEvents(redisUrl: string, keys: ClusterKeys): { hops: number[]; stop: () => void } {
  const reader = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const hops: number[] = [];
  let running = true;
  void (async () => {
    let position = '$';
    while (running) {
      const reply = await reader.callBuffer('XREAD', 'COUNT', 100, 'BLOCK', 500, 'STREAMS', keys.events, position).catch(() => null);
      for (const { id, fields } of readEntries(reply)) {
        position = id;
        if (fields.get('kind')?.toString() === 'alert') hops.push(Date.now() - Number(id.split('-')[0]));
      }
    }
  })();
  return { hops, stop: () => ((running = false), reader.disconnect()) };
}

async function latencyRuns(opts: ClusterBenchOptions, redisUrl: string, gallery: string, video: string): Promise<ClusterBenchResult['latency']> {
  const single = await startRoleProcess('all', 'single', roleConfig(opts, redisUrl, 'bench-single', gallery, 'single', video), opts.workDir);
  let singleMs: number[];
  try {
    singleMs = await alertLatencies(single.url, opts.latencySeconds, 120_000);
  } finally {
    await stopProcess(single.child);
  }
  opts.progress(`single process: ${singleMs.length} alerts`);
  const prefix = 'bench-latency';
  const keys = new ClusterKeys(prefix);
  const workers: RoleProcess[] = [];
  let clusterMs: number[];
  let follower: ReturnType<typeof followEvents> | undefined;
  let facesHopMeanMs = NaN;
  try {
    for (const role of ['gateway', 'infer', 'ingest']) workers.push(await startRoleProcess(role, `${role}-0`, roleConfig(opts, redisUrl, prefix, gallery, `${role}-0`, video), opts.workDir));
    follower = followEvents(redisUrl, keys);
    clusterMs = await alertLatencies(workers[0].url, opts.latencySeconds, 120_000);
    const metrics = await fetch(`${workers[1].url}/metrics`).then((r) => r.text());
    const sum = Number(/^unmask_cluster_broker_wait_seconds_sum (\S+)$/m.exec(metrics)?.[1]);
    const count = Number(/^unmask_cluster_broker_wait_seconds_count (\S+)$/m.exec(metrics)?.[1]);
    facesHopMeanMs = round((sum / count) * 1000);
  } finally {
    follower?.stop();
    await Promise.all(workers.map((w) => stopProcess(w.child)));
  }
  opts.progress(`cluster: ${clusterMs.length} alerts`);
  return {
    video: '640×360, 5 detections/s, LFW people two at a time (2 s a pair), match.cooldownSec 0',
    single: { frameToAlertMs: percentiles(singleMs), alerts: singleMs.length },
    cluster: { frameToAlertMs: percentiles(clusterMs), alerts: clusterMs.length, facesHopMeanMs, eventsHopMs: percentiles(follower.hops) },
  };
}

const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

/** A unit vector of `dims` from a seed (synthetic gallery embeddings). */
function unitVector(seed: number, dims: number): Float32Array {
  const v = new Float32Array(dims);
  let x = seed * 2654435761 >>> 0;
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    v[i] = (x / 2 ** 32) * 2 - 1;
    norm += v[i] * v[i];
  }
  for (let i = 0; i < dims; i++) v[i] /= Math.sqrt(norm);
  return v;
}

const GALLERY_DIMS = 512;

/**
 * The gallery side: PostgreSQL with `samples` synthetic 512-D samples (ArcFace's size) loaded as an
 * infer worker loads them, an enrollment until another process's index has it (NOTIFY), and the
 * in-memory index's brute-force search at growing sizes.
 */
async function galleryRuns(samples: number, progress: (line: string) => void): Promise<ClusterBenchResult['gallery']> {
  const server = await LocalPostgres.start();
  try {
    const admin = new pg.Client(server.url());
    await admin.connect();
    await admin.query('CREATE DATABASE bench');
    await admin.end();
    const url = server.url('bench');
    const writer = await PostgresGallery.connect(url);
    const key = { id: 'rec', version: 'v1', dims: GALLERY_DIMS };
    // Bulk rows straight into the tables (enrolling 20 000 photos through the models would take hours here).
    const db = new pg.Client(url);
    await db.connect();
    const identities = Math.ceil(samples / 5);
    await db.query(`INSERT INTO identities (name, created_at) SELECT 'person ' || g, 0 FROM generate_series(1, ${identities}) g`);
    for (let start = 0; start < samples; start += 1000) {
      const rows = Array.from({ length: Math.min(1000, samples - start) }, (_, i) => start + i);
      await db.query(
        `INSERT INTO samples (identity_id, image_sha256, box, score, recognizer_id, recognizer_version, embedding, created_at)
         SELECT 1 + (n % ${identities}), md5(n::text), '{"x":0,"y":0,"width":1,"height":1}', 0.9, 'rec', 'v1', e, 0
         FROM unnest($1::int[], $2::bytea[]) AS t(n, e)`,
        [rows, rows.map((n) => Buffer.from(unitVector(n, GALLERY_DIMS).buffer))],
      );
    }
    await db.end();
    const reader = await PostgresGallery.connect(url);
    const start = performance.now();
    const rows = await reader.embeddings('rec', 'v1');
    const loadSeconds = round((performance.now() - start) / 1000, 2);
    progress(`gallery: ${rows.length} samples loaded from PostgreSQL in ${loadSeconds} s`);
    const index = new GalleryIndex(key);
    for (const r of rows) index.add(r.sampleId, r.identity, r.embedding);
    let seen: number | undefined;
    reader.onExternalChange((change) => {
      if (change.type === 'sample-embedded') (index.add(change.sampleId, change.identity, change.embedding), (seen = performance.now()));
    }, 0);
    const notify: number[] = [];
    for (let i = 0; i < 30; i++) {
      seen = undefined;
      const written = performance.now();
      const identity = await writer.createIdentity(`enrolled ${i}`);
      const box = { x: 0, y: 0, width: 1, height: 1 };
      await writer.addSample({ identityId: identity.id, imageSha256: `e${i}`, box, score: 0.9, recognizerId: 'rec', recognizerVersion: 'v1', embedding: unitVector(1e6 + i, GALLERY_DIMS), thumbnailJpeg: Buffer.alloc(1), source: { jpeg: Buffer.alloc(1), landmarks: [] } });
      while (seen === undefined) await sleep(1);
      notify.push(seen - written);
    }
    await reader.close();
    await writer.close();
    const searchMs: NonNullable<ClusterBenchResult['gallery']>['searchMs'] = [];
    for (const size of [1_000, 10_000, 100_000]) {
      const sized = new GalleryIndex(key);
      for (let i = 0; i < size; i++) sized.add(i + 1, { id: 1 + Math.floor(i / 5), name: '' }, unitVector(i, GALLERY_DIMS));
      const times: number[] = [];
      for (let q = 0; q < 30; q++) {
        const query = unitVector(5e6 + q, GALLERY_DIMS);
        const t = performance.now();
        sized.search(query, 3);
        times.push(performance.now() - t);
      }
      searchMs.push({ samples: size, ms: percentiles(times), memoryMiB: round((size * GALLERY_DIMS * 4) / 2 ** 20) });
      progress(`index: ${size} samples, search p50 ${percentiles(times).p50} ms`);
    }
    return { samples, loadSeconds, notifyToIndexMs: percentiles(notify), searchMs };
  } finally {
    await server.close();
  }
}

export async function runClusterBench(opts: ClusterBenchOptions): Promise<ClusterBenchResult> {
  if (!existsSync(opts.lfwDir)) throw new Error(`no LFW View 1 at ${opts.lfwDir}`);
  mkdirSync(opts.workDir, { recursive: true });
  const loadAverageAtStart = loadavg().map((v) => round(v, 2));
  const config = parseConfig({});
  const names = people(opts.lfwDir);
  opts.progress(`preparing: ${names.length} LFW people, their gallery and face entries`);
  const { gallery, entries, jpegAgreement } = await prepare(opts, names, config);
  const video = await makeVideo(opts.lfwDir, names, opts.workDir);
  const server = await LocalRedis.start();
  const redis = new Redis(server.url, { maxRetriesPerRequest: null });
  try {
    opts.progress('wire: bytes and unloaded costs');
    const wire = await measureWire(entries, redis);
    const encoded = await Promise.all(entries.map((e) => encodeFaceEntry(e)));
    const jpeg = await Promise.all(entries.map((e) => encodeFaceEntry(e, 'jpeg')));
    const stub = await stubRuns(opts, server.url, redis, { raw: encoded, jpeg });
    const infer = await inferRuns(opts, server.url, redis, encoded, gallery, video);
    const eventBytes = (kind: string) =>
      percentiles(infer.events.filter((f) => f[1]?.toString() === kind).map((f) => f.reduce((s, b) => s + b.length, 0)));
    const latency = await latencyRuns(opts, server.url, gallery, video);
    const galleryFigures = havePostgres ? await galleryRuns(opts.gallerySamples, opts.progress) : undefined;
    if (!havePostgres) opts.progress(`gallery figures skipped: ${noPostgresReason}`);
    return {
      kind: 'cluster',
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? 'unknown',
        memoryGiB: round(totalmem() / 2 ** 30),
        node: process.version,
        loadAverageAtStart,
        note: 'one machine: Redis, every worker and the bench share its cores, with a background training job at nice 19',
      },
      wire: { ...wire, commitMs: percentiles(stub.commits), eventBytes: { alert: eventBytes('alert'), attempt: eventBytes('attempt') }, jpegAgreement },
      infer: infer.runs,
      stub: { costMs: opts.stubCostMs, runs: stub.runs },
      latency,
      ...(galleryFigures ? { gallery: galleryFigures } : {}),
    };
  } finally {
    redis.disconnect();
    await server.close();
  }
}

const kb = (bytes: number) => `${round(bytes / 1024)} KiB`;
const pp = (p: Percentiles, unit = 'ms') => `${p.p50} / ${p.p95} ${unit} (n=${p.n})`;

export function clusterBenchMarkdown(r: ClusterBenchResult, command: string): string {
  const m = r.machine;
  const w = r.wire;
  const lines = [
    '# Cluster bench: ingest, infer and gateway workers on Redis Streams',
    '',
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}; load average at start ${m.loadAverageAtStart.join(' / ')}. ${m.note}: every figure is of one machine, not of a cluster.`,
    `Command: \`${command}\``,
    '',
    '## What crosses the broker, and what it costs (unloaded)',
    '',
    '| per face | p50 / p95 |',
    '|---|---|',
    `| region of the frame sent (pixels) | ${w.regionPx.p50} / ${w.regionPx.p95} (n=${w.regionPx.n}) |`,
    `| face entry, raw region (bytes) | ${kb(w.entryBytes.raw.p50)} / ${kb(w.entryBytes.raw.p95)} |`,
    `| face entry, JPEG region q95 (bytes) | ${kb(w.entryBytes.jpeg.p50)} / ${kb(w.entryBytes.jpeg.p95)} |`,
    `| the two aligned crops instead: raw / JPEG q95 | ${kb(w.cropsBytes.raw)} / ${kb(w.cropsBytes.jpeg.p50)} (p50) |`,
    `| encode, raw / JPEG | ${w.encodeMs.raw.p50} / ${w.encodeMs.jpeg.p50} ms (p50) |`,
    `| decode, raw / JPEG | ${w.decodeMs.raw.p50} / ${w.decodeMs.jpeg.p50} ms (p50) |`,
    `| XADD + XREADGROUP round trip of one raw entry, loopback | ${pp(w.roundTripMs)} |`,
    `| commit script (vote compare-and-set, cool-down, events entry, ack, delete) | ${pp(w.commitMs)} |`,
    `| events entry of an alert (payload with crops + event) | ${kb(w.eventBytes.alert.p50)} / ${kb(w.eventBytes.alert.p95)} (n=${w.eventBytes.alert.n}) |`,
    `| events entry of an attempt | ${kb(w.eventBytes.attempt.p50)} / ${kb(w.eventBytes.attempt.p95)} (n=${w.eventBytes.attempt.n}) |`,
    '',
    `JPEG region against raw, the same ${w.jpegAgreement.faces} faces through align → repair → embed: ArcFace cosine min ${w.jpegAgreement.minCosine}, mean ${w.jpegAgreement.meanCosine}; the same route for ${w.jpegAgreement.sameRoute} of ${w.jpegAgreement.faces}.`,
    '',
    '## Faces per second through infer workers (real models, default config)',
    '',
    '| infer workers | faces | seconds | faces/s |',
    '|---|---|---|---|',
    ...r.infer.map((x) => `| ${x.workers} | ${x.faces} | ${x.seconds} | ${x.facesPerSecond} |`),
    '',
    `## A stand-in model of ${r.stub.costMs} ms per face and no CPU (a device of its own per worker)`,
    '',
    '| workers | region | faces | seconds | faces/s | ideal (workers × 1000 / cost) | CPU per face: Redis / the workers |',
    '|---|---|---|---|---|---|---|',
    ...r.stub.runs.map((x) => `| ${x.workers} | ${x.region} | ${x.faces} | ${x.seconds} | ${x.facesPerSecond} | ${x.ideal} | ${x.redisCpuMsPerFace} / ${x.workerCpuMsPerFace} ms |`),
    '',
    '## Frame-to-alert, single process against the cluster (1 ingest, 1 infer, 1 gateway)',
    '',
    `Video: ${r.latency.video}. Measured at a WebSocket subscriber: arrival − the frame's capture time.`,
    '',
    '| | alerts | frame-to-alert p50 / p95 |',
    '|---|---|---|',
    `| single process (\`--role all\`) | ${r.latency.single.alerts} | ${pp(r.latency.single.frameToAlertMs)} |`,
    `| cluster | ${r.latency.cluster.alerts} | ${pp(r.latency.cluster.frameToAlertMs)} |`,
    `| of which: faces stream, ingest → infer read (mean over all faces, queueing included) | | ${r.latency.cluster.facesHopMeanMs} ms |`,
    `| of which: events stream, commit → gateway read (alerts) | | ${pp(r.latency.cluster.eventsHopMs)} |`,
    '',
    ...(r.gallery
      ? [
          `## The gallery in PostgreSQL, and the in-memory index (${GALLERY_DIMS}-D, synthetic)`,
          '',
          `${r.gallery.samples} samples loaded from PostgreSQL (what an infer worker does at start) in ${r.gallery.loadSeconds} s; one enrollment written until another process's index has it (NOTIFY): ${pp(r.gallery.notifyToIndexMs)}.`,
          '',
          '| samples in the index | memory | one search (k = 3) p50 / p95 |',
          '|---|---|---|',
          ...r.gallery.searchMs.map((x) => `| ${x.samples} | ${x.memoryMiB} MiB | ${pp(x.ms)} |`),
          '',
        ]
      : []),
  ];
  return lines.join('\n');
}
