// The single source of defaults: every setting, its type, its default and its limits.
// config/default.yaml mirrors these values for users to copy; a user's file is merged over them.
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * The edit distance of two keys (optimal string alignment: a swap of neighbours counts one), ignoring
 * case, "_" and "-": `api_key` is 0 from `apiKey`, `enabeld` 1 from `enabled`.
 */
export function keyDistance(a: string, b: string): number {
  const x = a.toLowerCase().replace(/[_-]/g, ''), y = b.toLowerCase().replace(/[_-]/g, '');
  const d = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= x.length; i++)
    for (let j = 1; j <= y.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[x.length][y.length];
}

/** The known key closest to a misspelt one, when it is close enough to be what was meant (a third of its letters at most). */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined, bestDistance = Infinity;
  for (const candidate of known) {
    const distance = keyDistance(key, candidate);
    if (distance < bestDistance) (best = candidate), (bestDistance = distance);
  }
  return bestDistance <= Math.max(1, Math.floor(Math.max(key.length, 3) / 3)) ? best : undefined;
}

/** One line per unknown key: what it is, and the key it probably meant. */
export function unknownKeyLines(keys: readonly string[], known: readonly string[]): string[] {
  return keys.map((key) => {
    const meant = closestKey(key, known);
    return `${key}: unknown key${meant ? `; did you mean "${meant}"?` : ` (known here: ${known.join(', ')})`}`;
  });
}

/** An object that refuses unknown keys, naming the closest known one: a typo must not pass silently. */
function strict<T extends z.ZodRawShape>(shape: T) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? unknownKeyLines(issue.keys, known).join('\n') : undefined),
  });
}

/** The shortest API key accepted, from the config and from UNMASK_API_KEY alike. */
export const MIN_API_KEY_LENGTH = 16;

const camera = strict({
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

const source = strict({
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

const detect = strict({
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

const recognize = strict({
  /**
   * arcface: faceplugin's 512-D ArcFace-style MobileFaceNet; faceapi: face-api's 128-D port of dlib's
   * ResNet, which scores different people of one family above its threshold (README "Recognizers").
   */
  model: z.enum(['arcface', 'faceapi']).default('arcface'),
  provider,
  /** Faces of all cameras gather into shared runs of the recognizer, one batch per model thread at a time. */
  batch: strict({
      /** A batch runs as soon as it holds this many faces… */
      maxBatch: z.number().int().min(1).max(256).default(16),
      /** …or this long after its first face arrived. */
      maxWaitMs: z.number().min(0).max(1000).default(2),
    })
    .prefault({}),
});

const track = strict({
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

const match = strict({
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
  upperFace: strict({
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

const gallery = strict({
  path: z.string().min(1).default('var/gallery.db'),
  maxImageBytes: z.number().int().positive().default(10 * 1024 * 1024),
  /** Photos with more pixels are refused before decoding (a small file can decode to gigabytes). */
  maxImagePixels: z.number().int().positive().default(40_000_000),
  /** An enrolled face must be at least this wide (pixels) in the photo. */
  minFaceSize: z.number().int().min(16).default(48),
  /** Detector confidence an enrolled face must reach. */
  minConfidence: z.number().min(0).max(1).default(0.5),
  /** How often the running service looks for gallery changes made by another process (`unmask enroll`); 0 = never. */
  reloadIntervalMs: z.number().int().min(0).default(2000),
  /**
   * A larger photo is decoded shrunk to this many pixels (sharp's shrink-on-load), so that a photo's
   * memory is bounded whatever its size (a 40 Mpx PNG of 38 kB decodes to 120 MB at full size).
   */
  maxDecodedPixels: z.number().int().min(1_000_000).default(16_000_000),
  /** Photos decoded and enrolled at once (HTTP, feedback, demo); the others wait in the queue below. */
  enrollConcurrency: z.number().int().min(1).max(64).default(2),
  /** Enrollments that may wait for a turn; beyond it an upload gets 503 with Retry-After. */
  enrollQueue: z.number().int().min(0).max(1000).default(8),
  /**
   * Keep each sample's face source (the face with a margin, at most 400 px): what re-embedding needs
   * when the recognizer changes, and what the upper-face view is made from. false: only the aligned
   * thumbnail and the embeddings are kept (docs/security.md says what stops working).
   */
  keepFaceSources: z.boolean().default(true),
  /**
   * Where the gallery lives: sqlite, the file at `path` (one machine); postgres, the database at `url`
   * (a cluster's workers share it: docs/scaling.md).
   */
  store: z.enum(['sqlite', 'postgres']).default('sqlite'),
  /** With store postgres: postgres://user:password@host:5432/db; the environment variable UNMASK_GALLERY_URL wins. */
  url: z.string().regex(/^postgres(ql)?:\/\/./, 'a postgres:// or postgresql:// URL').optional(),
});

const events = strict({
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

const mqtt = strict({
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
  discovery: strict({
      enabled: z.boolean().default(false),
      prefix: z.string().regex(/^[^#+\u0000]+$/, 'a topic prefix without "#", "+" or NUL').default('homeassistant'),
      /** "Known person present" turns off this long after the last known alert of the camera. */
      presentSec: z.number().int().min(1).max(86_400).default(60),
    })
    .prefault({}),
});

const server = strict({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8080),
  /** API key for /alerts and the gallery API; the environment variable UNMASK_API_KEY wins (the same rule applies to both). */
  apiKey: z.string().min(MIN_API_KEY_LENGTH, `at least ${MIN_API_KEY_LENGTH} characters (a random one: openssl rand -base64 24)`).optional(),
  /** Wrong or missing keys a client address may send per failedAuthWindowSec; beyond it every request of it gets 429. */
  maxFailedAuth: z.number().int().min(1).default(10),
  failedAuthWindowSec: z.number().positive().max(86_400).default(60),
  /**
   * Browser origins (scheme://host:port) allowed to open /alerts besides the page's own (an Origin
   * naming the host it connects to); clients that send no Origin (not browsers) are not affected. "*": any.
   */
  allowedOrigins: z.array(z.string().regex(/^(\*|https?:\/\/[^/\s]+)$/, 'an origin such as https://ops.example.com, or "*"')).default([]),
  /** WebSocket subscribers at once; one more is closed with 1013 (try again later). */
  maxSubscribers: z.number().int().min(1).default(256),
  /** Alerts a subscriber may be behind (queued, or sent and not yet read) before it is closed with 4008. */
  subscriberQueue: z.number().int().min(1).default(64),
  /** Alerts kept for subscribers that reconnect with ?after=<id> (the last alert they got); 0: no replay. */
  replayAlerts: z.number().int().min(0).max(10_000).default(256),
  /** A subscriber's queue moves into its socket only while the socket holds fewer unsent bytes than this. */
  subscriberMaxBufferedBytes: z.number().int().min(1024).default(8 * 1024 * 1024),
  /** Ping interval of the /alerts heartbeat; a subscriber that misses a pong is dropped. */
  heartbeatSec: z.number().positive().max(3600).default(30),
});

const ui = strict({
  /** Serve the operator's page (alerts, gallery, cameras) on its own port; it reaches the API through this server. */
  enabled: z.boolean().default(true),
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8081),
});

const occlusion = strict({
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

const inpaint = strict({
  /** The ID-GAN generator (training/export_onnx.py); when the file is absent occluded faces go on unrepaired. */
  model: z.string().min(1).default('models/idgan-inpaint.onnx'),
  enabled: z.boolean().default(true),
  provider,
  /** Faces of all cameras gather into one run of the generator (src/pipeline/inpaint-batcher.ts). */
  batch: strict({
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
const cluster = strict({
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

export const configSchema = strict({
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
    log: strict({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info') }).prefault({}),
  })
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
  const lines = result.error.issues.flatMap((issue) => {
    const key = issue.path.join('.');
    // An unknown key is reported where it is, with the key it probably meant.
    if (issue.code === 'unrecognized_keys') return issue.message.split('\n').map((line) => `  ${key ? `${key}.` : ''}${line}`);
    return [`  ${key || '(top level)'}: ${issue.message}`];
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

/** The environment variables the service reads, with the rules the config applies to the same settings. */
const environment = z.object({
  UNMASK_API_KEY: z
    .string()
    .min(MIN_API_KEY_LENGTH, `at least ${MIN_API_KEY_LENGTH} characters, as server.apiKey (a random one: openssl rand -base64 24)`)
    .optional(),
  UNMASK_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).optional(),
  UNMASK_GALLERY_URL: z.string().regex(/^postgres(ql)?:\/\/./, 'a postgres:// or postgresql:// URL, as gallery.url').optional(),
});

/** Refuses a bad UNMASK_* variable with the reason; an empty one counts as unset. */
export function checkEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  const set = Object.fromEntries(Object.entries(env).filter(([k, v]) => k in environment.shape && v !== undefined && v !== ''));
  const result = environment.safeParse(set);
  if (result.success) return;
  const lines = result.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
  throw new ConfigError(`invalid environment:\n${lines.join('\n')}`);
}

/** The API key in force: the environment wins over the file; a key from either must be long enough. */
export function apiKeyOf(config: Config, env: NodeJS.ProcessEnv = process.env): string | undefined {
  checkEnvironment(env);
  return env.UNMASK_API_KEY || config.server.apiKey;
}

/**
 * Why a database path cannot be used, in words, or undefined when it can: a folder instead of a file,
 * a parent that is a file or not writable (SQLite also writes -wal and -shm files beside it).
 */
export function dataPathProblem(path: string): string | undefined {
  let isFile = false;
  try {
    const info = statSync(path);
    if (info.isDirectory()) return `${path} is a folder: give a file in it, such as ${join(path, 'gallery.db')}`;
    isFile = true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') return `cannot use ${path}: ${(err as Error).message}`;
  }
  let folder = dirname(resolve(path));
  while (!existsSync(folder)) folder = dirname(folder);
  if (!statSync(folder).isDirectory()) return `cannot create ${path}: ${folder} is a file, not a folder`;
  try {
    accessSync(folder, constants.W_OK);
    if (isFile) accessSync(path, constants.R_OK | constants.W_OK);
  } catch {
    return isFile ? `${path} is not readable and writable by this user` : `cannot create ${path}: the folder ${folder} is not writable by this user`;
  }
  return undefined;
}

/** Refuses unusable gallery and events paths with a plain message before anything is opened. */
export function checkDataPaths(config: Pick<Config, 'events' | 'gallery'>): void {
  const problems = [
    ...(config.gallery.store === 'sqlite' ? [['gallery.path', config.gallery.path]] : []),
    ...(config.events.enabled ? [['events.path', eventsPathOf(config)]] : []),
  ].flatMap(([key, path]) => {
    const problem = dataPathProblem(path);
    return problem ? [`  ${key}: ${problem}`] : [];
  });
  if (problems.length) throw new ConfigError(`unusable data path:\n${problems.join('\n')}`);
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
