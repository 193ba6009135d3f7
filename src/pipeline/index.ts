// The stream processor: per camera, frames → detect → track → align → repair → upper face → embed →
// match, behind a bounded drop-oldest queue; then alerts, with a cool-down, to the subscribers.
import { concatMap, of, tap, Subscription, type Observable } from 'rxjs';
import sharp from 'sharp';
import type { Config } from '../config.ts';
import { Cooldown, knownKey, unknownKey } from '../match/cooldown.ts';
import type { Detector, Landmarker, Recognizer } from '../models/types.ts';
import { alertsSent, facesDetected, framesDropped, stageSeconds } from '../observe/metrics.ts';
import { stageLogger } from '../observe/log.ts';
import { ALERT_SCHEMA, type AlertMessage, type Frame } from '../types.ts';
import { dropOldest } from './backpressure.ts';
import { repairStage, type FaceOcclusion, type FaceRepairer } from '../repair/repairer.ts';
import {
  alignStage,
  CameraTracks,
  detectStage,
  embedStage,
  matchStage,
  trackStage,
  type GalleryMatcher,
  type StageClock,
  type TrackDecision,
} from './stages.ts';
import { UpperFaceCutter, upperFaceStage } from '../embed/upper-face-cutter.ts';

export interface PipelineDeps {
  config: Config;
  detector: Detector;
  recognizer: Recognizer;
  gallery: GalleryMatcher;
  /** Finds occlusions and inpaints them between align and embed; absent: faces go to the recognizer as aligned. */
  repairer?: FaceRepairer;
  /**
   * Matches faces covered below the eyes on their upper face (needs the repairer's segmenter and
   * gallery.searchUpperFace), their eyes located by the landmarker when there is one.
   */
  upperFace?: { recognizer: Recognizer; landmarker?: Landmarker };
  /** Hands an alert to the subscribers; must not block. */
  publish: (alert: AlertMessage) => void;
  /** Extra observer of stage timings (the bench); metrics are always recorded. */
  onStageTime?: StageClock;
  /** Extra observer of frame-to-alert latency in ms (the bench). */
  onAlertLatency?: (ms: number, alert: AlertMessage) => void;
}

export interface CameraCounters {
  framesIn: number;
  framesDropped: number;
  framesProcessed: number;
  facesDetected: number;
  alerts: number;
}

const log = stageLogger('pipeline');

export class Pipeline {
  private readonly cooldown: Cooldown;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly counters = new Map<string, CameraCounters>();
  private readonly clock: StageClock;

  constructor(private readonly deps: PipelineDeps) {
    this.cooldown = new Cooldown(deps.config.match.cooldownSec);
    this.clock = (stage, ms) => {
      stageSeconds.observe({ stage }, ms / 1000);
      deps.onStageTime?.(stage, ms);
    };
  }

  /** Starts processing one camera's frames. */
  addCamera(camera: string, frames$: Observable<Frame>): void {
    if (this.subscriptions.has(camera)) throw new Error(`camera "${camera}" is already in the pipeline`);
    const { config, detector, recognizer, gallery, repairer } = this.deps;
    const upperFace = repairer && gallery.searchUpperFace ? this.deps.upperFace : undefined;
    const upperFaceCutter = upperFace && new UpperFaceCutter({ ...upperFace, minFraction: config.occlusion.minFraction });
    const counters: CameraCounters = { framesIn: 0, framesDropped: 0, framesProcessed: 0, facesDetected: 0, alerts: 0 };
    this.counters.set(camera, counters);
    const tracks = new CameraTracks(config);
    const policy = {
      ...config.match,
      maxAttempts: config.track.maxAttempts,
      minFraction: config.occlusion.minFraction,
      upperFaceThreshold: config.match.upperFace.threshold,
    };
    const clock = this.clock;

    const processFrame = (frame: Frame) =>
      of(frame).pipe(
        detectStage(detector, config.detect.minFaceSize, clock),
        tap(({ faces }) => {
          counters.framesProcessed++;
          counters.facesDetected += faces.length;
          facesDetected.inc({ camera }, faces.length);
        }),
        trackStage(tracks, clock),
        alignStage(recognizer, clock),
        repairStage(repairer, frame.image, recognizer, clock),
        upperFaceStage(upperFaceCutter, frame.image, clock),
        embedStage(recognizer, clock, { withUnrepaired: config.match.matchUnrepaired, upperFace: upperFace?.recognizer }),
        matchStage(gallery, tracks, policy, clock),
      );

    const subscription = frames$
      .pipe(
        tap(() => counters.framesIn++),
        dropOldest(
          {
            capacity: config.source.bufferFrames,
            onDrop: () => {
              counters.framesDropped++;
              framesDropped.inc({ camera });
            },
          },
          processFrame,
        ),
        concatMap((decision) => this.alert(decision)),
      )
      .subscribe({
        next: (alert) => {
          if (alert) counters.alerts++;
        },
        error: (err: Error) => log.error({ camera, err: err.message }, 'camera pipeline failed'),
      });
    this.subscriptions.set(camera, subscription);
  }

  /** Applies the cool-down, builds the payload and publishes it. */
  private async alert({ identification, votes, occlusion, matchedOn }: TrackDecision): Promise<AlertMessage | null> {
    const { observation, identity, score, crop } = identification;
    const key = identity ? knownKey(observation.camera, identity.id) : unknownKey(observation.camera, observation.trackId);
    if (!this.cooldown.shouldAlert(key, observation.frameTime)) return null;
    const start = performance.now();
    const jpeg = await sharp(crop.data, { raw: { width: crop.width, height: crop.height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
    const round = (v: number) => Math.round(v * 10) / 10;
    const box = observation.face.box;
    const alert: AlertMessage = {
      schema: ALERT_SCHEMA,
      type: 'alert',
      identity,
      known: identity !== null,
      score: Math.round(score * 10_000) / 10_000,
      camera: observation.camera,
      trackId: observation.trackId,
      frameTime: new Date(observation.frameTime).toISOString(),
      sentTime: new Date().toISOString(),
      box: { x: round(box.x), y: round(box.y), width: round(box.width), height: round(box.height) },
      faceJpeg: jpeg.toString('base64'),
      votes,
      matchedOn,
      ...(occlusion ? await occlusionPayload(occlusion) : {}),
    };
    this.clock('alert', performance.now() - start);
    this.deps.publish(alert);
    // The hub records frame-to-alert latency in the metrics; this is for the bench's own percentiles.
    const latencyMs = Date.now() - observation.frameTime;
    alertsSent.inc({ camera: observation.camera, kind: identity ? 'known' : 'unknown' });
    this.deps.onAlertLatency?.(latencyMs, alert);
    return alert;
  }

  /** A snapshot of every camera's counters. */
  stats(): Record<string, CameraCounters> {
    return Object.fromEntries([...this.counters].map(([camera, c]) => [camera, { ...c }]));
  }

  removeCamera(camera: string): void {
    this.subscriptions.get(camera)?.unsubscribe();
    this.subscriptions.delete(camera);
  }

  stop(): void {
    for (const camera of [...this.subscriptions.keys()]) this.removeCamera(camera);
  }
}

/** The alert's occlusion fields: the fraction always, the repaired face and its mask when inpainting ran. */
async function occlusionPayload(occlusion: FaceOcclusion): Promise<Pick<AlertMessage, 'occludedFraction' | 'inpaintedJpeg' | 'occlusionMaskPng'>> {
  const occludedFraction = Math.round(occlusion.fraction * 10_000) / 10_000;
  const { inpainted, mask } = occlusion;
  if (!inpainted || !mask) return { occludedFraction };
  const jpeg = await sharp(inpainted.data, { raw: { width: inpainted.width, height: inpainted.height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
  const grey = Uint8Array.from(mask, (m) => (m ? 255 : 0));
  const png = await sharp(grey, { raw: { width: inpainted.width, height: inpainted.height, channels: 1 } }).png().toBuffer();
  return { occludedFraction, inpaintedJpeg: jpeg.toString('base64'), occlusionMaskPng: png.toString('base64') };
}
