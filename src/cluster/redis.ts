// The cluster's Redis: connections, the names of its keys and streams, and stream replies as entries.
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { ConfigError, type Config } from '../config.ts';
import { stageLogger } from '../observe/log.ts';

export type Role = 'ingest' | 'infer' | 'gateway';
export const ROLES: readonly Role[] = ['ingest', 'infer', 'gateway'];

const log = stageLogger('cluster');

/**
 * Every key the cluster uses, under one prefix. A camera's track state and cool-downs carry the
 * camera's name; one Redis holds them all (docs/scaling.md: sharding takes one Redis per camera group).
 */
export class ClusterKeys {
  constructor(readonly prefix: string) {}

  /** ingest → infer: one entry per attempted face (wire.ts), read by the `infer` consumer group. */
  get faces(): string {
    return `${this.prefix}:faces`;
  }
  /** infer → gateways: alerts and attempts, read by every gateway from its own position. */
  get events(): string {
    return `${this.prefix}:events`;
  }
  /** infer → ingest: a track was handed over to another person, so its attempts start over. */
  get control(): string {
    return `${this.prefix}:control`;
  }
  /** Live workers of a role: a sorted set scored by when each one's heartbeat runs out (ms). */
  workers(role: Role): string {
    return `${this.prefix}:workers:${role}`;
  }
  /** Who holds a camera (the ingest worker's id), with the lease's TTL. */
  lease(camera: string): string {
    return `${this.prefix}:lease:${camera}`;
  }
  /** The camera's lease generation, counted up at each acquisition. */
  epoch(camera: string): string {
    return `${this.prefix}:epoch:${camera}`;
  }
  /** Each camera's state as its ingest worker last reported it (a hash by camera name). */
  get cameras(): string {
    return `${this.prefix}:cameras`;
  }
  /** A camera's latest frame as JPEG, refreshed by its ingest worker. */
  frame(camera: string): string {
    return `${this.prefix}:frame:${camera}`;
  }
  /** A track's vote and the alerts it raised: "version:json". */
  track(camera: string, epoch: number, trackId: number): string {
    return `${this.prefix}:track:${camera}:${epoch}:${trackId}`;
  }
  /** The frame time of the last alert of a cool-down key (match/cooldown.ts's knownKey, unknownKey). */
  cooldown(key: string): string {
    return `${this.prefix}:cooldown:${key}`;
  }
  /** The id of the last events entry a gateway delivered. */
  gatewayPosition(id: string): string {
    return `${this.prefix}:gateway:${id}:position`;
  }
}

/** The consumer group of the infer workers on the faces stream. */
export const INFER_GROUP = 'infer';

/** The Redis URL a cluster role needs, or a clear error. */
export function redisUrlOf(config: Config, role: Role): string {
  const url = config.cluster.redis;
  if (!url) throw new ConfigError(`--role ${role} needs cluster.redis (e.g. redis://127.0.0.1:6379) in the config`);
  return url;
}

/** This worker's id: cluster.id, else the role and the host's name (stable across restarts of a container). */
export function workerIdOf(config: Config, role: Role): string {
  return config.cluster.id ?? `${role}-${hostname()}`.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64);
}

/** A connection that reconnects (capped backoff) and logs its losses once per outage. */
export function connectRedis(url: string, name: string): Redis {
  const redis = new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2000),
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) log.warn({ err: err.message, connection: name }, 'redis connection lost; reconnecting');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info({ connection: name }, 'redis connection back');
    down = false;
  });
  return redis;
}

/** One entry of a stream: its id and its fields. */
export interface StreamEntry {
  id: string;
  fields: Map<string, Buffer>;
}

/** The entries of an XREAD or XREADGROUP reply on one stream, read as Buffers (null: nothing came). */
export function readEntries(reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply) || !reply.length) return [];
  return entryList((reply[0] as [Buffer, unknown[]])[1]);
}

/** A list of entries as XRANGE and XAUTOCLAIM give them; a trimmed entry a claim returns comes with null fields. */
export function entryList(entries: unknown[]): StreamEntry[] {
  return entries.map((raw) => {
    const [id, flat] = raw as [Buffer, Buffer[] | null];
    const fields = new Map<string, Buffer>();
    for (let i = 0; flat && i + 1 < flat.length; i += 2) fields.set(flat[i].toString(), flat[i + 1]);
    return { id: id.toString(), fields };
  });
}

/** Creates the consumer group at the stream's end (and the stream), unless it exists. */
export async function ensureGroup(redis: Redis, stream: string, group: string): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, group, '$', 'MKSTREAM');
  } catch (err) {
    if (!/BUSYGROUP/.test((err as Error).message)) throw err;
  }
}

/** Heartbeat of a worker: alive in its role's set until `ttlMs` from now. */
export async function heartbeat(redis: Redis, keys: ClusterKeys, role: Role, id: string, ttlMs: number): Promise<void> {
  const now = Date.now();
  await redis.multi().zadd(keys.workers(role), now + ttlMs, id).zremrangebyscore(keys.workers(role), '-inf', now).exec();
}

/** The ids of the live workers of a role. */
export async function liveWorkers(redis: Redis, keys: ClusterKeys, role: Role): Promise<string[]> {
  return (await redis.zrangebyscore(keys.workers(role), Date.now(), '+inf')).sort();
}
