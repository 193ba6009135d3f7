// The single source of defaults: every setting, its type, its default and its limits.
// config/default.yaml mirrors these values for users to copy; a user's file is merged over them.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const camera = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." or "-"'),
  /** file path, file://, rtsp://, http(s):// (MJPEG or HLS), udp:// (MPEG-TS) or demo: */
  url: z
    .string()
    .min(1)
    .refine((url) => {
      const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
      return scheme === undefined || ['file', 'rtsp', 'rtsps', 'http', 'https', 'udp', 'demo'].includes(scheme);
    }, 'a file path or a file:, rtsp(s)://, http(s)://, udp:// or demo: URL'),
  /** Restart a file from the start when it ends (files only). */
  loop: z.boolean().default(false),
  /** Read a file at its native rate, as a live camera would deliver it (files only). */
  realtime: z.boolean().default(true),
  /** Frames per second ffmpeg delivers: the detection rate of this camera. */
  fps: z.number().positive().max(60).default(5),
  width: z.number().int().min(32).max(4096).default(640),
  height: z.number().int().min(32).max(4096).default(360),
  enabled: z.boolean().default(true),
});

const source = z.object({
  /** Restart ffmpeg when it sends no frame for this long. */
  stallTimeoutSec: z.number().positive().default(10),
  backoffInitialMs: z.number().int().positive().default(500),
  backoffMaxMs: z.number().int().positive().default(30_000),
  /** Frames a camera may queue before its oldest are dropped (and counted). */
  bufferFrames: z.number().int().min(1).max(100).default(2),
});

/** onnxruntime's execution providers the service can ask for (src/models/providers.ts starts them). */
export const EXECUTION_PROVIDERS = ['cpu', 'cuda', 'webgpu'] as const;
export const PROVIDER_CHOICES = ['auto', ...EXECUTION_PROVIDERS] as const;

// onnxruntime execution provider of a model. 'cpu' by default so that a run is the same on every
// machine (and in CI); 'auto' tries CUDA, then WebGPU, then CPU; a GPU provider that cannot start
// falls back to CPU with a warning.
const provider = z.enum(PROVIDER_CHOICES).default('cpu');

const detect = z.object({
  /**
   * faceplugin: faceplugin's RFB-320 boxes with face-api's landmark net (on onnxruntime) on them. On
   * camera frames it finds 198 of 199 masked people (face-api's TinyFace found 134).
   */
  model: z
    .enum(['faceplugin'], {
      error: (issue) =>
        issue.input === 'tiny' || issue.input === 'ssd'
          ? `face-api's "${issue.input}" detector ran on TensorFlow.js and is gone (every model of the service runs on onnxruntime): use "faceplugin"`
          : 'expected "faceplugin"',
    })
    .default('faceplugin'),
  minConfidence: z.number().min(0).max(1).default(0.5),
  /** Faces narrower than this (pixels) are ignored: too small to recognise. */
  minFaceSize: z.number().int().min(8).default(32),
  /** Model threads (each runs the detector, landmark and recognition models); 0 = one per core. */
  workers: z.number().int().min(0).max(64).default(0),
  /** Execution provider of the detector and landmark models. */
  provider,
});

/**
 * The match thresholds of each recognizer (cosine similarity): the defaults of match.threshold and
 * match.unknownThreshold for the recognizer in force. How they were chosen: docs/recognizers.md.
 */
export const RECOGNIZER_THRESHOLDS = {
  arcface: { threshold: 0.4, unknownThreshold: 0.3 },
  faceapi: { threshold: 0.92, unknownThreshold: 0.88 },
} as const;

const recognize = z.object({
  /**
   * arcface: faceplugin's 512-D ArcFace-style MobileFaceNet; faceapi: face-api's 128-D port of dlib's
   * ResNet, which scores different people of one family above its threshold (README "Recognizers").
   */
  model: z.enum(['arcface', 'faceapi']).default('arcface'),
  provider,
  /** Faces of all cameras gather into shared runs of the recognizer, one batch per model thread at a time. */
  batch: z
    .object({
      /** A batch runs as soon as it holds this many faces… */
      maxBatch: z.number().int().min(1).max(256).default(16),
      /** …or this long after its first face arrived. */
      maxWaitMs: z.number().min(0).max(1000).default(2),
    })
    .prefault({}),
});

const track = z.object({
  iouThreshold: z.number().min(0).max(1).default(0.3),
  /** A track unseen for this long is closed. */
  maxAgeMs: z.number().int().positive().default(1500),
  /** Recognition attempts a track gets; the vote is over these. */
  maxAttempts: z.number().int().min(1).max(50).default(5),
  /** Least time between two attempts of one track. */
  attemptIntervalMs: z.number().int().min(0).default(200),
  /** Face quality (0–1) a frame needs for an attempt; 0.5 passes a sharp 32 px face, not a blurred small one. */
  minQuality: z.number().min(0).max(1).default(0.5),
  /** After this long without an attempt, a track's frames qualify whatever their quality (else a poor camera never alerts). */
  qualityWaitMs: z.number().int().min(0).default(1000),
  /** A later attempt needs a better frame than the best attempted so far, or this long since the last attempt. */
  retryAfterMs: z.number().int().min(0).default(1000),
  /** After its attempts, a track is re-checked this often (0: never): a track can pass to another person. */
  reverifyMs: z.number().int().min(0).default(2000),
});

const match = z.object({
  /** Cosine similarity at or above which the best gallery match is a known identity (default: the recognizer's, RECOGNIZER_THRESHOLDS). */
  threshold: z.number().min(-1).max(1).optional(),
  /** Cosine similarity below which a face is declared unknown (between the two: no decision yet); default: the recognizer's. */
  unknownThreshold: z.number().min(-1).max(1).optional(),
  alertUnknown: z.boolean().default(false),
  /** No second alert for the same identity on the same camera within this time. */
  cooldownSec: z.number().min(0).default(30),
  topK: z.number().int().min(1).max(100).default(3),
  /**
   * An occluded face (covered above occlusion.minFraction) must score this much more to be named, and
   * is unknown from this much higher: behind a mask the recognizer's similarities crowd together (at
   * 0.92, 58–65 % of masked strangers were named; README "Occlusion repair").
   */
  occludedMargin: z.number().min(0).max(0.5).default(0.02),
  /** A repaired face is also matched as it came, and the better of the two matches counts. */
  matchUnrepaired: z.boolean().default(true),
  /**
   * Negative samples ("this is not X", from an event): a face is matched to X only if its similarity
   * to X's closest photo beats its similarity to X's closest negative by at least this much
   * (measured on LFW View 1: docs/events.md "Feedback").
   */
  negativeMargin: z.number().min(0).max(1).default(0.05),
  /**
   * A face covered below the eyes (a mask, a scarf, a hand) is matched on its upper face alone, by
   * the ArcFace recognizer, against the gallery's photos seen the same way (src/models/upper-face.ts).
   */
  upperFace: z
    .object({
      enabled: z.boolean().default(true),
      /** The share of the ArcFace crop's height kept from the top (rows below it painted grey). */
      visibleHeight: z.number().gt(0).max(1).default(0.62),
      /** Cosine similarity of upper faces at or above which it is the same person (measured: docs/occlusion.md). */
      threshold: z.number().min(-1).max(1).default(0.65),
      /**
       * The best identity's upper face must beat the next one's by this much, else the match is held
       * undecided: masked look-alikes are a few hundredths apart (docs/occlusion.md).
       */
      margin: z.number().min(0).max(1).default(0.04),
      /**
       * Where the eyes of a covered face are found: faceplugin's landmark model (steadier under a mask),
       * or the detector's landmarks. Gallery photos keep the detector's.
       */
      eyes: z.enum(['faceplugin', 'detector']).default('faceplugin'),
    })
    .prefault({}),
});

const gallery = z.object({
  /**
   * Where the gallery lives: sqlite, the file at `path` (one machine); postgres, the database at `url`
   * (a cluster's workers share it: docs/scaling.md).
   */
  store: z.enum(['sqlite', 'postgres']).default('sqlite'),
  path: z.string().min(1).default('var/gallery.db'),
  /** With store postgres: postgres://user:password@host:5432/db; the environment variable UNMASK_GALLERY_URL wins. */
  url: z.string().regex(/^postgres(ql)?:\/\/./, 'a postgres:// or postgresql:// URL').optional(),
  maxImageBytes: z.number().int().positive().default(10 * 1024 * 1024),
  /** Photos with more pixels are refused before decoding (a small file can decode to gigabytes). */
  maxImagePixels: z.number().int().positive().default(40_000_000),
  /** An enrolled face must be at least this wide (pixels) in the photo. */
  minFaceSize: z.number().int().min(16).default(48),
  /** Detector confidence an enrolled face must reach. */
  minConfidence: z.number().min(0).max(1).default(0.5),
  /** How often the running service looks for gallery changes made by another process (`unmask enroll`); 0 = never. */
  reloadIntervalMs: z.number().int().min(0).default(2000),
});

const events = z.object({
  /** Record every alert (and the recent attempts below) with its crops, for the History and Train tabs. */
  enabled: z.boolean().default(true),
  /** The events database (SQLite), apart from the gallery (it is written at every alert); default: events.db beside gallery.path. */
  path: z.string().min(1).optional(),
  /** Recent recognition attempts that raised no alert kept for the Train tab (Frigate's save_attempts); 0: none. */
  keepAttempts: z.number().int().min(0).max(10_000).default(200),
  /** Alerts older than this are deleted (their crops overwritten); 0: kept until maxEvents. */
  retentionDays: z.number().min(0).default(30),
  /** At most this many alerts are kept; the oldest go first. */
  maxEvents: z.number().int().min(1).default(10_000),
  /** How often retention is enforced (it also is at start). */
  sweepIntervalSec: z.number().positive().max(86_400).default(3600),
  /** Events waiting for their crops to be encoded and written; beyond it new ones are dropped (and counted). */
  queue: z.number().int().min(1).max(10_000).default(64),
});

const mqtt = z.object({
  /** The broker, e.g. mqtt://127.0.0.1:1883 or mqtts://broker:8883; absent: no MQTT. */
  url: z.string().regex(/^(mqtts?|wss?):\/\/./, 'an mqtt://, mqtts://, ws:// or wss:// URL').optional(),
  /** Credentials; the environment variables UNMASK_MQTT_USERNAME and UNMASK_MQTT_PASSWORD win. */
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  clientId: z.string().min(1).max(64).default('unmask'),
  /** First segment of every topic: <prefix>/events, <prefix>/<camera>/<identity or unknown>, <prefix>/<camera>/state. */
  topicPrefix: z.string().regex(/^[^#+\u0000]+$/, 'a topic prefix without "#", "+" or NUL').default('unmask'),
  /** Messages kept while the broker is unreachable, sent on reconnect; beyond it the oldest are dropped (and counted). */
  queueSize: z.number().int().min(1).max(100_000).default(1000),
  /** Alert messages carry the base64 crops (faceJpeg, inpaintedJpeg, occlusionMaskPng) as on the WebSocket; off: left out (the events API serves them). */
  images: z.boolean().default(false),
  /** Wait before reconnecting to a lost broker. */
  reconnectMs: z.number().int().min(100).max(600_000).default(2000),
  /** Home Assistant MQTT discovery: per camera a "last person seen" sensor and a "known person present" binary sensor. */
  discovery: z
    .object({
      enabled: z.boolean().default(false),
      prefix: z.string().regex(/^[^#+\u0000]+$/, 'a topic prefix without "#", "+" or NUL').default('homeassistant'),
      /** "Known person present" turns off this long after the last known alert of the camera. */
      presentSec: z.number().int().min(1).max(86_400).default(60),
    })
    .prefault({}),
});

const server = z.object({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8080),
  /** API key for /alerts and the gallery API; the environment variable UNMASK_API_KEY wins. */
  apiKey: z.string().min(8).optional(),
  /** Messages a subscriber may have queued before it is closed as too slow. */
  subscriberQueue: z.number().int().min(1).default(64),
  /** A subscriber's queue moves into its socket only while the socket holds fewer unsent bytes than this. */
  subscriberMaxBufferedBytes: z.number().int().min(1024).default(8 * 1024 * 1024),
  /** Ping interval of the /alerts heartbeat; a subscriber that misses a pong is dropped. */
  heartbeatSec: z.number().positive().max(3600).default(30),
});

const ui = z.object({
  /** Serve the operator's page (alerts, gallery, cameras) on its own port; it reaches the API through this server. */
  enabled: z.boolean().default(true),
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8081),
});

const occlusion = z.object({
  /** The occlusion segmenter (training/occlusion/export_occlusion.py); when the file is absent the stage is off. */
  model: z.string().min(1).default('models/occlusion-seg.onnx'),
  /** Pixel probability from which a pixel of the aligned face counts as covered. */
  threshold: z.number().min(0).max(1).default(0.5),
  /** Inpaint when more than this share of the face area is covered (0–1). */
  minFraction: z.number().min(0).max(1).default(0.05),
  /** The found mask is grown by this many crop pixels before inpainting (the occluder's soft edge). */
  dilatePx: z.number().int().min(0).max(16).default(2),
  /**
   * The landmarks the segmenter's crop is aligned on: faceplugin's landmark model on the detector's box
   * (under a real mask it places nose and mouth where they are: RMFD nose–mouth found on 94.4 % of
   * service-sized faces against 90.7 %), or the detector's own.
   */
  landmarks: z.enum(['faceplugin', 'detector']).default('faceplugin'),
  provider,
});

const inpaint = z.object({
  /** The ID-GAN generator (training/export_onnx.py); when the file is absent occluded faces go on unrepaired. */
  model: z.string().min(1).default('models/idgan-inpaint.onnx'),
  enabled: z.boolean().default(true),
  provider,
  /** Faces of all cameras gather into one run of the generator (src/pipeline/inpaint-batcher.ts). */
  batch: z
    .object({
      /** A batch runs as soon as it holds this many faces… */
      maxBatch: z.number().int().min(1).max(1024).default(32),
      /** …or this long after its first face arrived: the most batching adds to a face's latency. */
      maxWaitMs: z.number().min(0).max(1000).default(5),
    })
    .prefault({}),
});

/**
 * Several processes on Redis Streams (docs/scaling.md): `unmask run --role ingest|infer|gateway`.
 * `--role all` (the default, `npm start`) runs everything in one process and ignores this section.
 */
const cluster = z.object({
  /** The Redis every role of the cluster shares, e.g. redis://10.0.0.2:6379/0; required by ingest, infer and gateway. */
  redis: z.string().regex(/^rediss?:\/\/./, 'a redis:// or rediss:// URL').optional(),
  /** First segment of every Redis key: two clusters can share one Redis under different prefixes. */
  prefix: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." or "-"').default('unmask'),
  /** This worker's name in Redis (leases, consumer group, a gateway's stream position); default: role-hostname. Keep it across restarts. */
  id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." or "-"').max(64).optional(),
  /** A camera lease lasts this long unless renewed (every third of it): a dead ingest worker's cameras move within this time. */
  leaseMs: z.number().int().min(500).max(600_000).default(5000),
  /** A face entry an infer worker has held this long unacknowledged is taken over by another (XAUTOCLAIM). */
  claimIdleMs: z.number().int().min(500).max(600_000).default(5000),
  /** Face entries an infer worker has in flight at once: what its recognizer and inpainter batches are drawn from. */
  inferConcurrency: z.number().int().min(1).max(256).default(16),
  /**
   * How the part of the frame around a face travels to the infer workers: raw RGB (recognised exactly as
   * by the single process) or JPEG at quality 95 (about a tenth of the bytes; measured in docs/scaling.md).
   */
  regionEncoding: z.enum(['raw', 'jpeg']).default('raw'),
  /** Face entries waiting in the stream at most (trimmed approximately; each is deleted once done): one trimmed before an infer worker read it is lost. */
  facesMaxLen: z.number().int().min(100).max(10_000_000).default(10_000),
  /** Alert and attempt entries kept for the gateways (a gateway down longer than this many entries misses the oldest). */
  eventsMaxLen: z.number().int().min(100).max(10_000_000).default(10_000),
});

export const configSchema = z
  .object({
    cameras: z.array(camera).default([]),
    source: source.prefault({}),
    detect: detect.prefault({}),
    recognize: recognize.prefault({}),
    track: track.prefault({}),
    match: match.prefault({}),
    gallery: gallery.prefault({}),
    server: server.prefault({}),
    ui: ui.prefault({}),
    occlusion: occlusion.prefault({}),
    inpaint: inpaint.prefault({}),
    events: events.prefault({}),
    mqtt: mqtt.prefault({}),
    cluster: cluster.prefault({}),
    log: z.object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info') }).prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.cameras.forEach((cam, i) => {
      if (seen.has(cam.name)) ctx.addIssue({ code: 'custom', path: ['cameras', i, 'name'], message: `duplicate camera name "${cam.name}"` });
      seen.add(cam.name);
    });
    const { threshold, unknownThreshold } = matchThresholds(c);
    if (unknownThreshold > threshold)
      ctx.addIssue({ code: 'custom', path: ['match', 'unknownThreshold'], message: `must not exceed match.threshold (${threshold})` });
    if (c.source.backoffMaxMs < c.source.backoffInitialMs)
      ctx.addIssue({ code: 'custom', path: ['source', 'backoffMaxMs'], message: 'must be at least source.backoffInitialMs' });
  })
  .transform((c) => ({ ...c, match: { ...c.match, ...matchThresholds(c) } }));

/** The thresholds in force: the configured ones, else the recognizer's own. */
function matchThresholds(c: { recognize: { model: keyof typeof RECOGNIZER_THRESHOLDS }; match: { threshold?: number; unknownThreshold?: number } }) {
  const own = RECOGNIZER_THRESHOLDS[c.recognize.model];
  const threshold = c.match.threshold ?? own.threshold;
  // A configured threshold below the recognizer's unknown threshold moves the unknown band down with it.
  const unknownThreshold = c.match.unknownThreshold ?? Math.min(own.unknownThreshold, threshold);
  return { threshold, unknownThreshold };
}

export type Config = z.output<typeof configSchema>;
export type CameraConfig = Config['cameras'][number];

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Validates a plain object; the error lists every bad key with what it expects. */
export function parseConfig(raw: unknown, origin = 'config'): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const key = issue.path.length ? issue.path.join('.') : '(top level)';
    return `  ${key}: ${issue.message}`;
  });
  throw new ConfigError(`invalid ${origin}:\n${lines.join('\n')}`);
}

/** Reads and validates a YAML config file. */
export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config ${file} is not valid YAML: ${(err as Error).message}`);
  }
  return parseConfig(raw, `config ${file}`);
}

/** The API key in force: the environment wins over the file. */
export function apiKeyOf(config: Config, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.UNMASK_API_KEY || config.server.apiKey;
}

/** The events database in force: the configured one, else events.db in the gallery's folder. */
export function eventsPathOf(config: Pick<Config, 'events' | 'gallery'>): string {
  return config.events.path ?? join(dirname(config.gallery.path), 'events.db');
}

/** The MQTT credentials in force: the environment wins over the file. */
export function mqttCredentialsOf(config: Config, env: NodeJS.ProcessEnv = process.env): { username?: string; password?: string } {
  const username = env.UNMASK_MQTT_USERNAME || config.mqtt.username;
  const password = env.UNMASK_MQTT_PASSWORD || config.mqtt.password;
  return { ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

/** Number of model worker threads: the configured count, or one per core. */
export function workerCount(config: Pick<Config, 'detect'>, cores: number): number {
  return config.detect.workers > 0 ? config.detect.workers : Math.max(1, cores);
}
