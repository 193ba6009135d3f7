// track: one track per person across frames; picks the frames of each track worth recognising.
import { map, type OperatorFunction } from 'rxjs';
import type { Config } from '../config.ts';
import { timedSync, type StageClock } from '../pipeline/clock.ts';
import type { FaceObservation, FrameFaces } from '../pipeline/messages.ts';
import type { DetectedFace } from '../types.ts';
import { AttemptScheduler } from './attempts.ts';
import { faceQuality } from './quality.ts';
import { IouTracker } from './tracker.ts';

/** Per camera: the tracker, and when each live track gets its next recognition attempt. */
export class TrackAttempts {
  readonly tracker: IouTracker;
  private readonly schedulers = new Map<number, AttemptScheduler>();

  constructor(private readonly settings: Config['track']) {
    this.tracker = new IouTracker(settings);
  }

  /** Live tracks with a schedule. */
  get size(): number {
    return this.schedulers.size;
  }

  /** Whether this frame of the track gets an attempt (and counts it when it does). */
  claim(trackId: number, firstSeen: number, quality: number, time: number): boolean {
    let scheduler = this.schedulers.get(trackId);
    if (!scheduler) this.schedulers.set(trackId, (scheduler = new AttemptScheduler(this.settings, firstSeen)));
    return scheduler.claim(quality, time);
  }

  /**
   * The track shows someone else now (the match stage saw a confident match for another person than
   * its vote's leader): its attempts start over, this one (at `time`, of `quality`) the first.
   */
  handOver(trackId: number, time: number, quality: number): void {
    const scheduler = new AttemptScheduler(this.settings, time);
    scheduler.claim(quality, time);
    this.schedulers.set(trackId, scheduler);
  }

  /** Per-track state exists only while the tracker holds the track. */
  forget(trackIds: readonly number[]): void {
    for (const id of trackIds) this.schedulers.delete(id);
  }
}

export function trackStage(tracks: TrackAttempts, clock: StageClock): OperatorFunction<FrameFaces<DetectedFace>, FrameFaces<FaceObservation>> {
  return map(({ frame, faces }) =>
    timedSync(clock, 'track', () => {
      const update = tracks.tracker.update(faces, frame.time);
      tracks.forget(update.closed);
      const attempts: FaceObservation[] = [];
      for (const t of update.tracks) {
        const quality = faceQuality(t.face, frame.image);
        if (tracks.claim(t.trackId, t.firstSeen, quality, frame.time))
          attempts.push({ camera: frame.camera, frameSeq: frame.seq, frameTime: frame.time, trackId: t.trackId, face: t.face, quality });
      }
      return { frame, faces: attempts, closedTracks: update.closed };
    }),
  );
}
