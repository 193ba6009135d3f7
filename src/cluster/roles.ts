// `unmask run --role ingest|infer|gateway`: one role of the cluster in this process, on the Redis of
// cluster.redis (docs/scaling.md). `--role all` is the single process of service.ts.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { apiKeyOf, checkDataPaths, checkEnvironment, type Config } from '../config.ts';
import { upperFaceView } from '../embed/upper-face.ts';
import { loadModels, loadServiceModels } from '../models/registry.ts';
import { setLogLevel, stageLogger } from '../observe/log.ts';
import type { HealthSnapshot } from '../server/app.ts';
import { Cleanup, galleryHealth, openFront, openGallery, resolveCameras, serveFront, type ServiceOptions } from '../service.ts';
import { cameraHealthOf, ClusterCameras } from './cameras.ts';
import { GatewayFeed, type FeedEntry } from './gateway.ts';
import { InferWorker, type InferDeps } from './infer.ts';
import { IngestWorker } from './ingest.ts';
import { startProbeServer } from './probe.ts';
import { ClusterKeys, connectRedis, ensureGroup, heartbeat, INFER_GROUP, liveWorkers, redisUrlOf, ROLES, workerIdOf, type Role } from './redis.ts';

const log = stageLogger('cluster');

export interface RoleOptions extends Pick<ServiceOptions, 'onAlert' | 'demoDir'> {
  /** Told each face entry an infer worker finished (the bench). */
  onEntry?: InferDeps['onEntry'];
}

export interface RunningRole {
  role: Role;
  /** This worker's id in Redis. */
  id: string;
  /** http://host:port: the API and /alerts of a gateway, /healthz and /metrics of the others. */
  url: string;
  /** A gateway's operator page, when ui.enabled. */
  uiUrl?: string;
  /** A gateway's API key, and whether it was generated at start. */
  apiKey?: string;
  apiKeyGenerated?: boolean;
  ingest?: IngestWorker;
  infer?: InferWorker;
  feed?: GatewayFeed;
  stop(): Promise<void>;
}

/** Starts one role; on a failure part-way, closes what was started and rethrows. */
export async function startRole(config: Config, role: Role, options: RoleOptions = {}): Promise<RunningRole> {
  setLogLevel(config.log.level);
  checkEnvironment();
  if (role === 'gateway') checkDataPaths(config);
  const url = redisUrlOf(config, role);
  const id = workerIdOf(config, role);
  const keys = new ClusterKeys(config.cluster.prefix);
  const cleanup = new Cleanup();
  const connect = (purpose: string): Redis => {
    const redis = connectRedis(url, `${id}-${purpose}`);
    cleanup.push(() => void redis.disconnect());
    return redis;
  };
  try {
    const redis = connect('commands');
    // Every role creates the group if it is not there: no face sent before it exists is lost.
    await ensureGroup(redis, keys.faces, INFER_GROUP);
    const started = Date.now();
    const running = await (role === 'ingest'
      ? startIngest(config, { redis, reader: connect('control'), keys, id, started }, cleanup, options)
      : role === 'infer'
        ? startInfer(config, { redis, reader: connect('faces'), keys, id, started }, cleanup, options)
        : startGateway(config, { redis, reader: connect('events'), keys, id, started }, cleanup, options));
    log.info({ role, id, url: running.url }, 'cluster worker is running');
    return { ...running, role, id, stop: () => cleanup.run() };
  } catch (err) {
    await cleanup.run();
    throw err;
  }
}

interface Wiring {
  redis: Redis;
  reader: Redis;
  keys: ClusterKeys;
  id: string;
  started: number;
}

type Started = Omit<RunningRole, 'role' | 'id' | 'stop'>;

/** Keeps the worker in its role's live set (ingest workers do it with their leases). */
function keepAlive(config: Config, w: Wiring, role: Role, cleanup: Cleanup): void {
  const beat = () => heartbeat(w.redis, w.keys, role, w.id, config.cluster.leaseMs).catch(() => undefined);
  void beat();
  const timer = setInterval(beat, Math.max(100, Math.floor(config.cluster.leaseMs / 3)));
  timer.unref();
  cleanup.push(async () => {
    clearInterval(timer);
    await w.redis.zrem(w.keys.workers(role), w.id).catch(() => undefined);
  });
}

const uptime = (w: Wiring) => Math.round((Date.now() - w.started) / 1000);

async function startIngest(config: Config, w: Wiring, cleanup: Cleanup, options: RoleOptions): Promise<Started> {
  const cameras = await resolveCameras(config.cameras.filter((c) => c.enabled), options.demoDir ?? 'var/demo');
  const models = await loadModels(config);
  cleanup.push(() => models.close());
  const ingest = new IngestWorker({ config, redis: w.redis, reader: w.reader, keys: w.keys, id: w.id, detector: models.detector, cameras });
  cleanup.push(() => ingest.stop());
  await ingest.start();
  const probe = await startProbeServer(config.server.host, config.server.port, async () => {
    const held = ingest.status();
    const ready = w.redis.status === 'ready';
    return {
      status: ready && held.every((c) => c.state === 'live') ? 'ok' : 'degraded',
      role: 'ingest',
      id: w.id,
      uptimeSec: uptime(w),
      redis: w.redis.status,
      // A camera's last error can name hosts and paths: the gateways' API (with the key) shows it, this probe does not.
      cameras: Object.fromEntries(held.map(({ lastError: _needsTheKey, ...camera }) => [camera.name, camera])),
      leases: ready ? await ingest.leases.holders() : {},
    };
  });
  cleanup.push(() => probe.server.close());
  return { url: probe.url, ingest };
}

async function startInfer(config: Config, w: Wiring, cleanup: Cleanup, options: RoleOptions): Promise<Started> {
  const models = await loadServiceModels(config);
  cleanup.push(() => models.close());
  const gallery = await openGallery(config, models, cleanup, { seedDemo: false });
  const events = { alerts: config.events.enabled, attempts: config.events.enabled && config.events.keepAttempts > 0 };
  const infer = new InferWorker({ config, redis: w.redis, reader: w.reader, keys: w.keys, id: w.id, models, gallery: gallery.matcher, events, onEntry: options.onEntry });
  await infer.start();
  cleanup.push(() => infer.stop());
  keepAlive(config, w, 'infer', cleanup);
  const probe = await startProbeServer(config.server.host, config.server.port, async () => ({
    status: w.redis.status === 'ready' ? 'ok' : 'degraded',
    role: 'infer',
    id: w.id,
    uptimeSec: uptime(w),
    redis: w.redis.status,
    gallery: { ...(await galleryHealth(gallery.store)), indexed: gallery.index.size },
    models: models.status(),
  }));
  cleanup.push(() => probe.server.close());
  return { url: probe.url, infer };
}

async function startGateway(config: Config, w: Wiring, cleanup: Cleanup, options: RoleOptions): Promise<Started> {
  const configuredKey = apiKeyOf(config);
  const apiKey = configuredKey ?? randomBytes(18).toString('base64url');
  // The models enrollment needs: the detector on photos, the recognizer, and the upper-face view when
  // the infer workers match covered faces on it (its embedding is made at enrollment, as by one process).
  const models = await loadModels(config);
  cleanup.push(() => models.close());
  const upperFace =
    config.match.upperFace.enabled && existsSync(config.occlusion.model)
      ? { recognizer: upperFaceView(models.arcFace, config.match.upperFace.visibleHeight) }
      : undefined;
  const gallery = await openGallery(config, { enrollDetector: models.enrollDetector, recognizer: models.recognizer, upperFace }, cleanup, { seedDemo: true });
  const front = await openFront(config, gallery, cleanup, options.onAlert);
  const cameraNames = config.cameras.filter((c) => c.enabled).map((c) => c.name);
  const cameras = new ClusterCameras(w.redis, w.keys, cameraNames, 3 * config.cluster.leaseMs);
  let workers: Record<string, string[]> = {};
  const refresh = async () => {
    try {
      await cameras.list();
      workers = Object.fromEntries(await Promise.all(ROLES.map(async (role) => [role, await liveWorkers(w.redis, w.keys, role)])));
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cannot read the cluster state');
    }
  };
  await refresh();
  const timer = setInterval(() => void refresh(), 1000);
  timer.unref();
  cleanup.push(() => clearInterval(timer));
  keepAlive(config, w, 'gateway', cleanup);
  const health = async (): Promise<HealthSnapshot> => ({
    uptimeSec: uptime(w),
    cameras: Object.fromEntries(cameras.cached().map((view) => [view.name, cameraHealthOf(view)])),
    subscribers: front.hub.subscriberCount,
    gallery: await galleryHealth(gallery.store),
    cluster: { id: w.id, redis: w.redis.status, workers },
  });
  const { url, uiUrl } = await serveFront(config, apiKey, front, gallery, cameras, health, cleanup);
  const deliver = (entry: FeedEntry) => {
    if (entry.alert) front.publish(entry.alert, entry.id);
    const event = entry.event;
    if (event) front.events?.recorder.record(entry.kind, () => event);
  };
  const feed = new GatewayFeed(w.redis, w.reader, w.keys, w.id, deliver, {
    count: config.server.replayAlerts,
    recall: (entry) => entry.alert && front.hub.remember(entry.alert, entry.id),
  });
  await feed.start();
  // Stopped before the history closes (steps undo last first), so that what it delivered is written.
  cleanup.push(() => feed.stop());
  return { url, uiUrl, apiKey, apiKeyGenerated: !configuredKey, feed };
}
