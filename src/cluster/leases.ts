// Camera leases: which ingest worker plays which camera. A lease is a Redis key holding the worker's
// id with a TTL (SET NX PX), renewed every third of it; N live workers each take a fair share of the
// configured cameras, and when one dies its leases run out and the others take its cameras over.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { stageLogger } from '../observe/log.ts';
import { heartbeat, liveWorkers, type ClusterKeys } from './redis.ts';

const log = stageLogger('cluster');

export interface LeasePlan {
  /** Held cameras beyond this worker's share: let go, so that a newcomer gets them. */
  release: string[];
  /** Free cameras to try, best first, up to the share. */
  acquire: string[];
}

/**
 * What a worker does with the leases, given the cameras, those it holds, those nobody holds, and how
 * many workers are alive: it keeps at most ⌈cameras / workers⌉. Free cameras are tried in an order of
 * their own for each worker (rendezvous hashing), so that workers starting together try different ones.
 */
export function planLeases(me: string, cameras: readonly string[], held: readonly string[], free: readonly string[], workers: number): LeasePlan {
  const share = Math.ceil(cameras.length / Math.max(1, workers));
  const kept = [...held].sort((a, b) => rank(me, b) - rank(me, a));
  if (kept.length > share) return { release: kept.slice(share), acquire: [] };
  const wanted = [...free].filter((c) => !held.includes(c)).sort((a, b) => rank(me, b) - rank(me, a));
  return { release: [], acquire: wanted.slice(0, share - kept.length) };
}

function rank(worker: string, camera: string): number {
  return createHash('sha1').update(`${worker}\u0000${camera}`).digest().readUInt32BE(0);
}

// Renew and release only a lease this worker still holds: after a pause longer than the TTL another
// worker may hold it, and must keep it.
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export interface LeaseHandlers {
  /** The worker now holds the camera; `epoch` is the lease's generation (track ids are per epoch). */
  acquired(camera: string, epoch: number): void;
  /** The worker no longer holds the camera: stop it now (another worker may already play it). */
  lost(camera: string, reason: 'expired' | 'released'): void;
}

export class CameraLeases {
  private readonly held = new Map<string, number>();
  /** Per held camera: stops it just before its lease can run out in Redis, unless renewed first. */
  private readonly expiry = new Map<string, NodeJS.Timeout>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();

  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
    readonly me: string,
    private readonly cameras: readonly string[],
    private readonly leaseMs: number,
    private readonly handlers: LeaseHandlers,
  ) {}

  /** Cameras held now, with their epoch. */
  holding(): ReadonlyMap<string, number> {
    return this.held;
  }

  /** Takes a share at once, then renews and rebalances every third of the lease. */
  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), Math.max(100, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  /** One round: heartbeat, renew what is held, let go of the excess, take free cameras up to the share. */
  tick(): Promise<void> {
    this.ticking = this.ticking
      .then(() => this.round())
      .catch((err: Error) => {
        // Unrenewed leases stop by their expiry timers.
        log.warn({ err: err.message }, 'camera leases: round failed; retrying');
      });
    return this.ticking;
  }

  private async round(): Promise<void> {
    await heartbeat(this.redis, this.keys, 'ingest', this.me, this.leaseMs);
    for (const camera of [...this.held.keys()]) {
      const asked = Date.now();
      const renewed = await this.redis.eval(RENEW, 1, this.keys.lease(camera), this.me, this.leaseMs);
      // Stopped meanwhile (a reply that came after the lease's time): it stays stopped, the lease runs out.
      if (!this.held.has(camera)) continue;
      if (renewed === 1) this.renewed(camera, asked);
      else this.drop(camera, 'expired');
    }
    const holders = this.cameras.length ? await this.redis.mget(this.cameras.map((c) => this.keys.lease(c))) : [];
    const free = this.cameras.filter((_, i) => holders[i] === null);
    const workers = (await liveWorkers(this.redis, this.keys, 'ingest')).length;
    const plan = planLeases(this.me, this.cameras, [...this.held.keys()], free, workers);
    for (const camera of plan.release) await this.release(camera);
    for (const camera of plan.acquire) {
      const asked = Date.now();
      if ((await this.redis.set(this.keys.lease(camera), this.me, 'PX', this.leaseMs, 'NX')) !== 'OK') continue;
      const epoch = await this.redis.incr(this.keys.epoch(camera));
      this.held.set(camera, epoch);
      this.renewed(camera, asked);
      log.info({ camera, epoch, worker: this.me }, 'camera lease taken');
      this.handlers.acquired(camera, epoch);
    }
  }

  /**
   * Notes a lease taken or renewed by a request sent at `asked`. Redis counts the lease from when the
   * request reached it, so no other worker can take the camera before asked + leaseMs: the camera is
   * stopped a margin before then, by a timer of its own, whether or not the rounds still run (a round
   * waits as long as Redis does not answer).
   */
  private renewed(camera: string, asked: number): void {
    clearTimeout(this.expiry.get(camera));
    const margin = Math.min(200, Math.floor(this.leaseMs / 10));
    // Re-armed by every renewal and cleared by drop(): when it fires, the camera is held and unrenewed.
    const timer = setTimeout(() => this.drop(camera, 'expired'), Math.max(0, asked + this.leaseMs - margin - Date.now()));
    timer.unref();
    this.expiry.set(camera, timer);
  }

  private drop(camera: string, reason: 'expired' | 'released'): void {
    this.held.delete(camera);
    clearTimeout(this.expiry.get(camera));
    this.expiry.delete(camera);
    if (reason === 'expired') log.warn({ camera, worker: this.me }, 'camera lease lost: the camera stops here');
    else log.info({ camera, worker: this.me }, 'camera lease let go for another worker');
    this.handlers.lost(camera, reason);
  }

  /** Stops the camera first, then frees its lease for another worker. */
  private async release(camera: string): Promise<void> {
    this.drop(camera, 'released');
    await this.redis.eval(RELEASE, 1, this.keys.lease(camera), this.me);
  }

  /** Who holds each camera (null: nobody). */
  async holders(): Promise<Record<string, string | null>> {
    if (!this.cameras.length) return {};
    const values = await this.redis.mget(this.cameras.map((c) => this.keys.lease(c)));
    return Object.fromEntries(this.cameras.map((c, i) => [c, values[i]]));
  }

  /** Lets every camera go and leaves the live set, so that the others take over at once. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    for (const camera of [...this.held.keys()]) await this.release(camera);
    await this.redis.zrem(this.keys.workers('ingest'), this.me);
  }
}
