// Records the pipeline's alerts and attempts as events, off the pipeline: each is queued (bounded:
// beyond `queue` the new one is dropped and counted), its crops encoded and written one at a time.
// The pipeline's calls return at once.
import sharp from 'sharp';
import type { AlertMessage } from '../alert/message.ts';
import { faceSourceOf } from '../gallery/enroll.ts';
import { eventsDropped, eventsRecorded } from '../observe/metrics.ts';
import { stageLogger } from '../observe/log.ts';
import type { FaceObservation, FaceOcclusion, RecognitionAttempt, TrackDecision } from '../pipeline/messages.ts';
import type { PipelineEvents } from '../pipeline/index.ts';
import type { RgbImage } from '../types.ts';
import type { EventRecord, EventStore, NewEvent } from './store.ts';

/** The face source an event keeps (gallery/enroll.ts faceSourceOf). */
export type FaceSourceCut = NonNullable<NewEvent['source']>;

const JPEG_QUALITY = 85;
const log = stageLogger('events');

export interface RecorderSettings {
  /** Events waiting to be written at most. */
  queue: number;
  /** Attempts kept; 0: attempts are not recorded. */
  keepAttempts: number;
}

export class EventRecorder implements PipelineEvents {
  private pending = 0;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  /** Told each event once it is stored (tests, and whoever follows the history live). */
  onRecorded?: (event: EventRecord) => void;

  constructor(
    private readonly store: EventStore,
    private readonly settings: RecorderSettings,
  ) {}

  /** Events queued or being written. */
  get backlog(): number {
    return this.pending;
  }

  alert(alert: AlertMessage, decision: TrackDecision): void {
    this.record('alert', async () => {
      const { observation } = decision.identification;
      return alertEvent(alert, observation, decision.frameImage && (await faceSourceOf(decision.frameImage, observation.face)));
    });
  }

  attempt(attempt: RecognitionAttempt): void {
    this.record('attempt', () => attemptEvent(attempt));
  }

  /** Resolves once everything queued so far is written. */
  flush(): Promise<void> {
    return this.chain;
  }

  /** Writes what is queued, then records nothing more. */
  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
  }

  /** Queues an event built elsewhere (a cluster gateway's, from the broker); attempts only when they are kept. */
  record(kind: NewEvent['kind'], build: () => Promise<NewEvent> | NewEvent): void {
    if (this.closed || (kind === 'attempt' && this.settings.keepAttempts === 0)) return;
    if (this.pending >= this.settings.queue) {
      eventsDropped.inc({ kind });
      return;
    }
    this.pending++;
    this.chain = this.chain.then(async () => {
      try {
        const event = this.store.add(await build(), this.settings.keepAttempts);
        eventsRecorded.inc({ kind });
        this.onRecorded?.(event);
      } catch (err) {
        eventsDropped.inc({ kind });
        log.warn({ err: (err as Error).message, kind }, 'cannot record an event');
      } finally {
        this.pending--;
      }
    });
  }
}

/** The event of an alert sent: its fields and crops, and the face source cut from the frame when there is one. */
export function alertEvent(alert: AlertMessage, observation: FaceObservation, source?: FaceSourceCut): NewEvent {
  return {
    ...common(observation),
    kind: 'alert',
    identity: alert.identity,
    known: alert.known,
    score: alert.score,
    votes: alert.votes,
    matchedOn: alert.matchedOn,
    ...(alert.occludedFraction === undefined ? {} : { occludedFraction: alert.occludedFraction }),
    faceJpeg: Buffer.from(alert.faceJpeg, 'base64'),
    ...(alert.inpaintedJpeg ? { inpaintedJpeg: Buffer.from(alert.inpaintedJpeg, 'base64') } : {}),
    ...(alert.occlusionMaskPng ? { maskPng: Buffer.from(alert.occlusionMaskPng, 'base64') } : {}),
    ...(source ? { source } : {}),
  };
}

/** The event of an attempt that raised no alert, its crops encoded; the face source is cut from the attempt's frame unless given. */
export async function attemptEvent(attempt: RecognitionAttempt, faceSource?: FaceSourceCut): Promise<NewEvent> {
  const [faceJpeg, repaired, source] = await Promise.all([
    jpeg(attempt.crop),
    repairedImages(attempt.occlusion),
    faceSource ?? faceSourceOf(attempt.frameImage, attempt.observation.face),
  ]);
  return {
    ...common(attempt.observation),
    kind: 'attempt',
    identity: attempt.closest,
    known: attempt.known,
    score: Math.round(attempt.score * 10_000) / 10_000,
    votes: attempt.votes,
    matchedOn: attempt.matchedOn,
    ...(attempt.occlusion ? { occludedFraction: Math.round(attempt.occlusion.fraction * 10_000) / 10_000 } : {}),
    faceJpeg,
    ...repaired,
    source,
  };
}

function common(observation: FaceObservation) {
  const round = (v: number) => Math.round(v * 10) / 10;
  const b = observation.face.box;
  return {
    camera: observation.camera,
    trackId: observation.trackId,
    frameTime: observation.frameTime,
    box: { x: round(b.x), y: round(b.y), width: round(b.width), height: round(b.height) },
    detectorScore: Math.round(observation.face.score * 10_000) / 10_000,
  };
}

async function repairedImages(occlusion: FaceOcclusion | undefined): Promise<Pick<NewEvent, 'inpaintedJpeg' | 'maskPng'>> {
  if (!occlusion?.inpainted || !occlusion.mask) return {};
  const { inpainted, mask } = occlusion;
  const grey = Uint8Array.from(mask, (m) => (m ? 255 : 0));
  const [inpaintedJpeg, maskPng] = await Promise.all([
    jpeg(inpainted),
    sharp(grey, { raw: { width: inpainted.width, height: inpainted.height, channels: 1 } }).png().toBuffer(),
  ]);
  return { inpaintedJpeg, maskPng };
}

function jpeg(image: RgbImage): Promise<Buffer> {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).jpeg({ quality: JPEG_QUALITY }).toBuffer();
}
