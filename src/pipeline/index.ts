// The stream processor: per camera, frames behind a bounded drop-oldest queue through
// detect → track → align → repair → embed → match → alert. This file only composes the stages.
import { of, pipe, tap, Subscription, type Observable, type OperatorFunction } from 'rxjs';
import type { AlertMessage } from '../alert/message.ts';
import { alertStage, type AlertSink } from '../alert/stage.ts';
import { alignStage } from '../align/stage.ts';
import type { Config } from '../config.ts';
import { detectStage } from '../detect/stage.ts';
import { embedStage } from '../embed/stage.ts';
import { UpperFaceCutter } from '../embed/upper-face.ts';
import { Cooldown } from '../match/cooldown.ts';
import { matchPolicy, type GalleryMatcher } from '../match/policy.ts';
import { matchStage, TrackVotes, type AttemptObserver } from '../match/stage.ts';
import type { Detector, Landmarker, Recognizer } from '../models/types.ts';
import { facesDetected, framesDropped, stageSeconds } from '../observe/metrics.ts';
import { stageLogger } from '../observe/log.ts';
import type { FaceRepairer } from '../repair/repairer.ts';
import { repairStage } from '../repair/stage.ts';
import { trackStage, TrackAttempts } from '../track/stage.ts';
import { dropOldest } from './backpressure.ts';
import type { StageClock } from './clock.ts';
import type { EmbeddedFace, FaceObservation, Frame, FrameFaces, RecognitionAttempt, TrackDecision } from './messages.ts';

export interface PipelineDeps {
  config: Config;
  detector: Detector;
  recognizer: Recognizer;
  gallery: GalleryMatcher;
  /** Finds occlusions, routes and inpaints between align and embed; absent: every face is clean. */
  repairer?: FaceRepairer;
  /**
   * Matches faces covered below the eyes on their upper face (the repairer routes them there when it
   * knows the upper face is on, and gallery.searchUpperFace is there), their eyes located by the landmarker.
   */
  upperFace?: { recognizer: Recognizer; landmarker?: Landmarker };
  /** Hands an alert to the subscribers; must not block. */
  publish: (alert: AlertMessage) => void;
  /**
   * Told every alert with its decision, and every recognition attempt that raised none (the events
   * recorder); synchronous, must not block.
   */
  events?: PipelineEvents;
  /** Extra observer of stage timings (the bench); metrics are always recorded. */
  onStageTime?: StageClock;
  /** Extra observer of frame-to-alert latency in ms (the bench). */
  onAlertLatency?: (ms: number, alert: AlertMessage) => void;
}

export interface PipelineEvents {
  alert(alert: AlertMessage, decision: TrackDecision): void;
  attempt(attempt: RecognitionAttempt): void;
}

/** A decision the cool-down held back, as the attempt it was. */
export function heldBackAttempt(decision: TrackDecision): RecognitionAttempt | undefined {
  const { identification: id, frameImage } = decision;
  if (!frameImage) return undefined;
  return {
    observation: id.observation,
    closest: id.identity,
    score: id.score,
    known: id.identity !== null,
    matchedOn: decision.matchedOn,
    crop: id.crop,
    occlusion: decision.occlusion,
    frameImage,
    votes: decision.votes,
  };
}

/**
 * A camera's frames counted in, one at a time through `work`, behind a queue of `capacity` frames
 * whose oldest is dropped (and counted) when the work falls behind.
 */
export function cameraQueue<R>(camera: string, counters: CameraCounters, capacity: number, work: (frame: Frame) => Observable<R>): OperatorFunction<Frame, R> {
  return pipe(
    tap(() => counters.framesIn++),
    dropOldest(
      {
        capacity,
        onDrop: () => {
          counters.framesDropped++;
          framesDropped.inc({ camera });
        },
      },
      work,
    ),
  );
}

/**
 * detect → track: a camera's frames to the faces worth an attempt. Needs the frame; in a cluster, what
 * an ingest worker runs (src/cluster/ingest.ts).
 */
export function cameraStages(
  deps: Pick<PipelineDeps, 'config' | 'detector'>,
  tracks: TrackAttempts,
  counters: CameraCounters,
  clock: StageClock,
): OperatorFunction<Frame, FrameFaces<FaceObservation>> {
  return pipe(
    detectStage(deps.detector, deps.config.detect.minFaceSize, clock),
    tap(({ frame, faces }) => {
      counters.framesProcessed++;
      counters.facesDetected += faces.length;
      facesDetected.inc({ camera: frame.camera }, faces.length);
    }),
    trackStage(tracks, clock),
  );
}

/**
 * align → repair → embed: the attempted faces to their embeddings. Needs only the part of the frame
 * around the faces; in a cluster, what an infer worker runs on the faces that came over the wire.
 */
export function faceStages(
  deps: Pick<PipelineDeps, 'config' | 'recognizer' | 'repairer' | 'upperFace' | 'gallery'>,
  clock: StageClock,
): OperatorFunction<FrameFaces<FaceObservation>, FrameFaces<EmbeddedFace>> {
  const { config, recognizer, repairer } = deps;
  const upperFace = repairer && deps.gallery.searchUpperFace ? deps.upperFace : undefined;
  return pipe(
    alignStage(recognizer.template, clock),
    repairStage(repairer, recognizer.template, clock),
    embedStage(recognizer, clock, {
      withUnrepaired: config.match.matchUnrepaired,
      upperFace: upperFace && { recognizer: upperFace.recognizer, cutter: new UpperFaceCutter(upperFace.recognizer, upperFace.landmarker) },
    }),
  );
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
  private readonly sink: AlertSink;
  private readonly onAttempt: AttemptObserver | undefined;

  constructor(private readonly deps: PipelineDeps) {
    this.cooldown = new Cooldown(deps.config.match.cooldownSec);
    this.clock = (stage, ms) => {
      stageSeconds.observe({ stage }, ms / 1000);
      deps.onStageTime?.(stage, ms);
    };
    const events = deps.events;
    this.onAttempt = events && ((attempt) => events.attempt(attempt));
    this.sink = {
      publish: deps.publish,
      onLatency: deps.onAlertLatency,
      ...(events && {
        onAlert: (alert: AlertMessage, decision: TrackDecision) => events.alert(alert, decision),
        onHeldBack: (decision: TrackDecision) => {
          const attempt = heldBackAttempt(decision);
          if (attempt) events.attempt(attempt);
        },
      }),
    };
  }

  /** Starts processing one camera's frames. */
  addCamera(camera: string, frames$: Observable<Frame>): void {
    if (this.subscriptions.has(camera)) throw new Error(`camera "${camera}" is already in the pipeline`);
    const { config, gallery } = this.deps;
    const counters: CameraCounters = { framesIn: 0, framesDropped: 0, framesProcessed: 0, facesDetected: 0, alerts: 0 };
    this.counters.set(camera, counters);
    const tracks = new TrackAttempts(config.track);
    const clock = this.clock;

    const stages = pipe(
      cameraStages(this.deps, tracks, counters, clock),
      faceStages(this.deps, clock),
      matchStage(gallery, new TrackVotes(), tracks, matchPolicy(config), clock, this.onAttempt),
    );

    const subscription = frames$
      .pipe(
        cameraQueue(camera, counters, config.source.bufferFrames, (frame) => of(frame).pipe(stages)),
        alertStage(this.cooldown, this.sink, clock),
      )
      .subscribe({
        next: (alert) => {
          if (alert) counters.alerts++;
        },
        error: (err: Error) => log.error({ camera, err: err.message }, 'camera pipeline failed'),
      });
    this.subscriptions.set(camera, subscription);
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
