// Per-camera IoU tracker: the same person across detection frames is one track, so recognition
// can run per track on its best frames instead of on every face of every frame.
import { iou } from '../align/box.ts';
import type { Box, DetectedFace } from '../types.ts';

export interface TrackerOptions {
  /** A detection continues a track only when their boxes overlap by more than this IoU. */
  iouThreshold: number;
  /** A track unseen for this long (ms) is closed. */
  maxAgeMs: number;
}

/** A detection of this frame with the track it belongs to. */
export interface TrackedFace {
  trackId: number;
  face: DetectedFace;
  /** True on the first frame of the track. */
  isNew: boolean;
  /** Time of the track's first frame. */
  firstSeen: number;
}

export interface TrackUpdate {
  /** One entry per input detection, in the input order. */
  tracks: TrackedFace[];
  /** Ids of the tracks this update closed (unseen for maxAgeMs): their per-track state can go. */
  closed: number[];
}

interface LiveTrack {
  id: number;
  box: Box;
  firstSeen: number;
  lastSeen: number;
}

/**
 * One per camera. Track ids start at 1 and only grow for the life of the tracker (a camera that
 * reconnects keeps its tracker, so an id is never reused). Live tracks are bounded by time: each
 * update closes the tracks unseen for maxAgeMs, so only faces of the last maxAgeMs are held.
 */
export class IouTracker {
  private readonly live = new Map<number, LiveTrack>();
  private nextId = 1;
  private readonly iouThreshold: number;
  private readonly maxAgeMs: number;

  constructor(options: TrackerOptions) {
    if (!(options.iouThreshold >= 0 && options.iouThreshold < 1))
      throw new RangeError(`IouTracker: iouThreshold must be in [0, 1), got ${options.iouThreshold}`);
    if (!(options.maxAgeMs > 0)) throw new RangeError(`IouTracker: maxAgeMs must be positive, got ${options.maxAgeMs}`);
    this.iouThreshold = options.iouThreshold;
    this.maxAgeMs = options.maxAgeMs;
  }

  /** Live tracks now. */
  get size(): number {
    return this.live.size;
  }

  /**
   * Assigns the detections of one frame (taken at `time`, ms) to tracks: greedily, the highest IoU
   * pair first, each track and detection at most once, only pairs above iouThreshold. Unmatched
   * detections open new tracks. Tracks unseen for maxAgeMs before `time` are closed first, so they
   * cannot capture a new face that happens to appear where they were.
   */
  update(faces: readonly DetectedFace[], time: number): TrackUpdate {
    checkTime(time);
    const closed = this.expire(time);

    const candidates: { track: LiveTrack; detection: number; overlap: number }[] = [];
    for (const track of this.live.values()) {
      faces.forEach((face, detection) => {
        const overlap = iou(track.box, face.box);
        if (overlap > this.iouThreshold) candidates.push({ track, detection, overlap });
      });
    }
    // Ties (equal IoU) go to the older track, then to the earlier detection: deterministic.
    candidates.sort((p, q) => q.overlap - p.overlap || p.track.id - q.track.id || p.detection - q.detection);

    const assigned = new Array<TrackedFace | undefined>(faces.length);
    const taken = new Set<number>();
    for (const { track, detection } of candidates) {
      if (taken.has(track.id) || assigned[detection]) continue;
      taken.add(track.id);
      const face = faces[detection];
      track.box = face.box;
      track.lastSeen = Math.max(track.lastSeen, time);
      assigned[detection] = { trackId: track.id, face, isNew: false, firstSeen: track.firstSeen };
    }

    const tracks = faces.map((face, detection) => {
      const existing = assigned[detection];
      if (existing) return existing;
      const track: LiveTrack = { id: this.nextId++, box: face.box, firstSeen: time, lastSeen: time };
      this.live.set(track.id, track);
      return { trackId: track.id, face, isNew: true, firstSeen: time };
    });
    return { tracks, closed };
  }

  /**
   * Closes the tracks unseen for maxAgeMs at `time` and returns their ids. `update` does this
   * itself; call it directly when a camera delivers no frames (stalled, reconnecting).
   */
  expire(time: number): number[] {
    checkTime(time);
    const closed: number[] = [];
    for (const track of this.live.values()) {
      if (time - track.lastSeen >= this.maxAgeMs) {
        this.live.delete(track.id);
        closed.push(track.id);
      }
    }
    return closed;
  }

  /** Closes every live track (the camera stopped) and returns their ids. Ids keep growing afterwards. */
  closeAll(): number[] {
    const closed = [...this.live.keys()];
    this.live.clear();
    return closed;
  }
}

function checkTime(time: number): void {
  if (!Number.isFinite(time)) throw new RangeError(`IouTracker: time must be a finite number of ms, got ${time}`);
}
