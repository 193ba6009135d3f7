// Alert cool-down: no second alert for the same key (identity + camera, or track + camera for an
// unknown face) within cooldownSec.

/** The cool-down key of a known identity seen on a camera. */
export function knownKey(camera: string, identityId: number): string {
  return `known:${camera}:${identityId}`;
}

/** The cool-down key of an unknown face: per track, since unknown faces have no identity to share. */
export function unknownKey(camera: string, trackId: number): string {
  return `unknown:${camera}:${trackId}`;
}

/** Keys held at most; past it the oldest are forgotten (a repeat alert then beats unbounded memory). */
export const DEFAULT_MAX_KEYS = 10_000;

export class Cooldown {
  /** Key → time of its last alert, in order of that time (a key is re-inserted when it alerts). */
  private readonly lastAlert = new Map<string, number>();
  private readonly cooldownMs: number;

  constructor(
    cooldownSec: number,
    private readonly maxKeys = DEFAULT_MAX_KEYS,
  ) {
    if (!(Number.isFinite(cooldownSec) && cooldownSec >= 0))
      throw new RangeError(`Cooldown: cooldownSec must be a finite number ≥ 0, got ${cooldownSec}`);
    if (!(Number.isInteger(maxKeys) && maxKeys >= 1)) throw new RangeError(`Cooldown: maxKeys must be an integer ≥ 1, got ${maxKeys}`);
    this.cooldownMs = cooldownSec * 1000;
  }

  /** Keys held now. */
  get size(): number {
    return this.lastAlert.size;
  }

  /**
   * True when `key` may alert at `now` (ms), and then starts its cool-down; false while it cools
   * down. A time up to cooldownSec *before* the last alert also counts as cooling down: frames of
   * one camera can finish out of order, and a late one must not alert twice.
   */
  shouldAlert(key: string, now: number): boolean {
    if (!Number.isFinite(now)) throw new RangeError(`Cooldown: now must be a finite time in ms, got ${now}`);
    if (this.cooldownMs === 0) return true;
    this.evictExpired(now);
    const last = this.lastAlert.get(key);
    if (last !== undefined && Math.abs(now - last) < this.cooldownMs) return false;
    this.lastAlert.delete(key);
    this.lastAlert.set(key, now);
    if (this.lastAlert.size > this.maxKeys) this.lastAlert.delete(this.lastAlert.keys().next().value!);
    return true;
  }

  /** Forgets keys whose cool-down is over at `now`. Oldest first, so it stops at the first live one. */
  private evictExpired(now: number): void {
    for (const [key, at] of this.lastAlert) {
      if (now - at < this.cooldownMs) break;
      this.lastAlert.delete(key);
    }
  }
}
