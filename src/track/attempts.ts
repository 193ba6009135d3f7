// Which frames of a track get a recognition attempt: the first good one at once, then better ones,
// never too close together and never more than maxAttempts (then a re-check now and then).

export interface AttemptPolicy {
  /** Attempts a track gets at most. */
  maxAttempts: number;
  /** Least time (ms) between two attempts. */
  attemptIntervalMs: number;
  /** Quality a frame needs for an attempt… */
  minQuality: number;
  /** …unless this long (ms) has passed since the last attempt (or the track's start) without one. */
  qualityWaitMs: number;
  /** A later attempt needs a frame better than every one attempted so far, or this long (ms) since the last attempt. */
  retryAfterMs: number;
  /**
   * Once all attempts are used, one more every this long (ms; 0: never), so that a track the tracker
   * carried over to another person (a cut, people passing) is noticed and re-identified.
   */
  reverifyMs: number;
}

/**
 * Decides, frame by frame, whether a track's face gets a recognition attempt. The first attempt goes
 * as soon as a frame passes the quality floor, so a known face alerts early; later ones go to frames
 * better than any attempted so far (the person came closer, stopped moving), or to any passing frame
 * once retryAfterMs has gone by, never closer than attemptIntervalMs and never more than maxAttempts.
 */
export class AttemptScheduler {
  private attempts = 0;
  private lastAttempt: number;
  private bestQuality = -Infinity;

  /** `firstSeen`: time (ms) of the track's first frame. */
  constructor(
    private readonly policy: AttemptPolicy,
    firstSeen: number,
  ) {
    if (!(Number.isInteger(policy.maxAttempts) && policy.maxAttempts >= 1))
      throw new RangeError(`AttemptScheduler: maxAttempts must be an integer ≥ 1, got ${policy.maxAttempts}`);
    if (!Number.isFinite(firstSeen)) throw new RangeError(`AttemptScheduler: firstSeen must be a finite time, got ${firstSeen}`);
    this.lastAttempt = firstSeen;
  }

  /** Attempts claimed so far. */
  get count(): number {
    return this.attempts;
  }

  /** True once the track has used all its attempts: no frame of it will be recognised again. */
  get exhausted(): boolean {
    return this.attempts >= this.policy.maxAttempts;
  }

  /**
   * Whether the frame of quality `quality` at `time` should get a recognition attempt; when it
   * should, the attempt is counted (call once per frame of the track, in time order).
   */
  claim(quality: number, time: number): boolean {
    if (!(quality >= 0 && quality <= 1)) throw new RangeError(`AttemptScheduler: quality must be in [0, 1], got ${quality}`);
    if (!Number.isFinite(time)) throw new RangeError(`AttemptScheduler: time must be finite, got ${time}`);
    if (this.exhausted) {
      if (this.policy.reverifyMs <= 0 || time - this.lastAttempt < this.policy.reverifyMs) return false;
      this.lastAttempt = time;
      return true;
    }
    const sinceLast = time - this.lastAttempt;
    const passesFloor = quality >= this.policy.minQuality || sinceLast >= this.policy.qualityWaitMs;
    if (!passesFloor) return false;
    if (this.attempts > 0) {
      if (sinceLast < this.policy.attemptIntervalMs) return false;
      const better = quality > this.bestQuality;
      if (!better && sinceLast < this.policy.retryAfterMs) return false;
    }
    this.attempts++;
    this.lastAttempt = time;
    this.bestQuality = Math.max(this.bestQuality, quality);
    return true;
  }
}
