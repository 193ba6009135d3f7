// The ingest role: the cameras this worker holds a lease on, through detect and track, each attempted
// face sent on to the infer workers with the part of the frame around it (wire.ts). Frames stay here.
import { concatMap, of, type Subscription } from 'rxjs';
import type { Redis } from 'ioredis';
import { ARCFACE_TEMPLATE, FACEAPI_RECOGNIZER_TEMPLATE, INPAINT_TEMPLATE, type CropTemplate } from '../align/templates.ts';
import type { CameraConfig, Config } from '../config.ts';
import { upperTemplate } from '../embed/upper-face.ts';
import type { Detector } from '../models/types.ts';
import { stageSeconds } from '../observe/metrics.ts';
import { stageLogger } from '../observe/log.ts';
import type { StageClock } from '../pipeline/clock.ts';
import { cameraQueue, cameraStages, type CameraCounters } from '../pipeline/index.ts';
import type { FaceObservation, FrameFaces } from '../pipeline/messages.ts';
import { CameraWatch, frameJpeg } from '../server/routes/cameras.ts';
import { CameraSource } from '../source/camera.ts';
import { TrackAttempts } from '../track/stage.ts';
import type { ClusterCameraView } from './cameras.ts';
import { CameraLeases } from './leases.ts';
import { faceEntriesSent, faceEntryBytes } from './metrics.ts';
import { readEntries, type ClusterKeys } from './redis.ts';
import { cutRegion, encodeFaceEntry, faceRegion, type FaceEntry } from './wire.ts';

const log = stageLogger('ingest');

/** How often a camera's state and latest frame are reported for the gateways (/healthz, /api/cameras). */
const REPORT_EVERY_MS = 1000;
const FRAME_EVERY_MS = 2000;

/** The crops the steps after the tracker cut, whose frame area the region must cover. */
export function regionTemplates(config: Pick<Config, 'recognize' | 'match'>): CropTemplate[] {
  const recognizer = config.recognize.model === 'faceapi' ? FACEAPI_RECOGNIZER_TEMPLATE : ARCFACE_TEMPLATE;
  return [
    INPAINT_TEMPLATE,
    recognizer,
    ...(config.match.upperFace.enabled ? [upperTemplate(ARCFACE_TEMPLATE, config.match.upperFace.visibleHeight)] : []),
  ];
}

/** A frame's attempted faces as entries: one per face, the closed tracks with the first (or alone). */
export function faceEntries(message: FrameFaces<FaceObservation>, epoch: number, templates: readonly CropTemplate[], sentAt: number): FaceEntry[] {
  const { frame, faces, closedTracks } = message;
  const entries: FaceEntry[] = faces.map((observation, i) => ({
    camera: frame.camera,
    epoch,
    sentAt,
    face: { observation, region: cutRegion(frame.image, faceRegion(observation.face, frame.image.width, frame.image.height, templates)) },
    closedTracks: i === 0 ? [...closedTracks] : [],
  }));
  if (!entries.length && closedTracks.length) entries.push({ camera: frame.camera, epoch, sentAt, closedTracks: [...closedTracks] });
  return entries;
}

interface Playing {
  epoch: number;
  source: CameraSource;
  tracks: TrackAttempts;
  counters: CameraCounters;
  subscription: Subscription;
}

export interface IngestDeps {
  config: Config;
  redis: Redis;
  /** A connection of its own: it blocks on the control stream. */
  reader: Redis;
  keys: ClusterKeys;
  id: string;
  detector: Detector;
  /** Cameras with `demo:` resolved to the video. */
  cameras: CameraConfig[];
  clock?: StageClock;
}

export class IngestWorker {
  readonly leases: CameraLeases;
  private readonly playing = new Map<string, Playing>();
  private readonly watch = new CameraWatch((name) => this.playing.get(name)?.counters.framesDropped ?? 0);
  private readonly templates: CropTemplate[];
  private readonly clock: StageClock;
  private reportTimer: NodeJS.Timeout | undefined;
  private lastFrameReport = 0;
  private running = false;
  private controlLoop: Promise<void> = Promise.resolve();
  /** Entries sent, and their bytes (the bench's wire figures). */
  readonly sent = { entries: 0, bytes: 0 };

  constructor(private readonly deps: IngestDeps) {
    this.templates = regionTemplates(deps.config);
    this.clock = (stage, ms) => {
      stageSeconds.observe({ stage }, ms / 1000);
      deps.clock?.(stage, ms);
    };
    this.leases = new CameraLeases(
      deps.redis,
      deps.keys,
      deps.id,
      deps.cameras.map((c) => c.name),
      deps.config.cluster.leaseMs,
      { acquired: (camera, epoch) => this.play(camera, epoch), lost: (camera) => void this.stopCamera(camera) },
    );
  }

  async start(): Promise<void> {
    this.running = true;
    const lastControl = await this.deps.redis.xrevrange(this.deps.keys.control, '+', '-', 'COUNT', 1);
    this.controlLoop = this.followControl(lastControl[0]?.[0] ?? '0-0');
    await this.leases.start();
    this.reportTimer = setInterval(() => void this.report(), REPORT_EVERY_MS);
    this.reportTimer.unref();
  }

  /** Cameras played here: state, counters, who holds them (this worker) and the lease's epoch. */
  status(): ClusterCameraView[] {
    return this.watch.list().flatMap((view) => {
      const p = this.playing.get(view.name);
      return p ? [{ ...view, heldBy: this.deps.id, epoch: p.epoch }] : [];
    });
  }

  /** The camera's source, while this worker plays it. */
  source(camera: string): CameraSource | undefined {
    return this.playing.get(camera)?.source;
  }

  private play(camera: string, epoch: number): void {
    const cameraConfig = this.deps.cameras.find((c) => c.name === camera)!;
    const { config } = this.deps;
    const source = new CameraSource(cameraConfig, config.source);
    const tracks = new TrackAttempts(config.track);
    const counters: CameraCounters = { framesIn: 0, framesDropped: 0, framesProcessed: 0, facesDetected: 0, alerts: 0 };
    const playing: Playing = { epoch, source, tracks, counters, subscription: undefined as unknown as Subscription };
    const stages = cameraStages(this.deps, tracks, counters, this.clock);
    playing.subscription = source.frames$
      .pipe(cameraQueue(camera, counters, config.source.bufferFrames, (frame) => of(frame).pipe(stages, concatMap((message) => this.send(message, epoch)))))
      .subscribe({ error: (err: Error) => log.error({ camera, err: err.message }, 'camera pipeline failed') });
    this.playing.set(camera, playing);
    this.watch.add(camera, source);
    source.start();
  }

  /** Sends a frame's faces; a broker that is away holds the camera's queue, which then drops frames (counted). */
  private async send(message: FrameFaces<FaceObservation>, epoch: number): Promise<void> {
    const entries = faceEntries(message, epoch, this.templates, Date.now());
    if (!entries.length) return;
    const { redis, keys, config } = this.deps;
    const batch = redis.pipeline();
    for (const entry of entries) {
      const bytes = await encodeFaceEntry(entry, config.cluster.regionEncoding);
      this.sent.entries++;
      this.sent.bytes += bytes.length;
      faceEntriesSent.inc();
      faceEntryBytes.inc(bytes.length);
      batch.xadd(keys.faces, 'MAXLEN', '~', config.cluster.facesMaxLen, '*', 'f', bytes);
    }
    await batch.exec();
  }

  private async stopCamera(camera: string): Promise<void> {
    const p = this.playing.get(camera);
    if (!p) return;
    this.playing.delete(camera);
    this.watch.remove(camera);
    p.subscription.unsubscribe();
    await p.source.stop();
  }

  /** Hand-overs the infer workers saw on this worker's tracks: those tracks' attempts start over. */
  private async followControl(from: string): Promise<void> {
    let position = from;
    while (this.running) {
      try {
        const reply = await this.deps.reader.callBuffer('XREAD', 'COUNT', 100, 'BLOCK', 1000, 'STREAMS', this.deps.keys.control, position);
        for (const { id, fields } of readEntries(reply)) {
          position = id;
          const h = fields.get('h');
          if (!h) continue;
          const { camera, epoch, track, time, quality } = JSON.parse(h.toString()) as { camera: string; epoch: number; track: number; time: number; quality: number };
          const p = this.playing.get(camera);
          if (p && p.epoch === epoch) p.tracks.handOver(track, time, quality);
        }
      } catch (err) {
        if (!this.running) return;
        log.warn({ err: (err as Error).message }, 'cannot read the control stream; retrying');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** Each played camera's state for the gateways, and now and then its latest frame. */
  private async report(): Promise<void> {
    const { redis, keys } = this.deps;
    try {
      const now = Date.now();
      const withFrames = now - this.lastFrameReport >= FRAME_EVERY_MS;
      if (withFrames) this.lastFrameReport = now;
      const batch = redis.pipeline();
      for (const view of this.status()) {
        batch.hset(keys.cameras, view.name, JSON.stringify({ ...view, reportedAt: new Date(now).toISOString() }));
        const frame = withFrames ? this.watch.latestFrame(view.name) : undefined;
        if (frame) {
          const { jpeg, time } = await frameJpeg(frame);
          batch.set(keys.frame(view.name), Buffer.concat([Buffer.from(`${time}\n`), jpeg]), 'PX', 4 * FRAME_EVERY_MS);
        }
      }
      await batch.exec();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cannot report the cameras');
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.reportTimer) clearInterval(this.reportTimer);
    await this.leases.stop();
    await Promise.all([...this.playing.keys()].map((camera) => this.stopCamera(camera)));
    this.watch.close();
    this.deps.reader.disconnect();
    await this.controlLoop;
  }
}
