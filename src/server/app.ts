// The HTTP server: /healthz and /metrics for probes, the API plugins and the /alerts WebSocket
// behind the API key. Every route needs the key unless it is marked public, so a route added by a
// plugin is protected without having to remember it.
import type { ModelStatus } from '../models/registry.ts';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { Config } from '../config.ts';
import type { CameraState } from '../source/camera.ts';
import { ALERTS_PATH, type AlertHub } from '../alert/hub.ts';
import { stageLogger, type Logger } from '../observe/log.ts';
import { registry } from '../observe/metrics.ts';
import { authorize, unauthorizedBody } from './auth.ts';
import { AuthBrake } from './auth-brake.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without the API key. */
    public?: boolean;
  }
}

export interface CameraHealth {
  state: CameraState;
  /** The last failure of the camera's ffmpeg (exit, stall, error output), if any. */
  lastError?: string;
  /** ISO-8601 time the camera entered its current state. */
  since: string;
  restarts: number;
  framesIn: number;
  framesDropped: number;
  /** ISO-8601 time of the last frame received, if any. */
  lastFrameAt?: string;
  /** In a cluster: the ingest worker holding the camera's lease (null: none). */
  heldBy?: string | null;
}

export interface HealthReport {
  /** 'degraded' when any enabled camera is not live; served with 503 then. */
  status: 'ok' | 'degraded';
  /** Without the API key: states and counts only (no camera's last error). */
  uptimeSec: number;
  /** By camera name. */
  cameras: Record<string, CameraHealth>;
  subscribers: number;
  gallery: { identities: number; samples: number };
  /** Model names, versions and backends, as the caller reports them. */
  models?: ModelStatus;
  /** A cluster gateway: its id, its Redis connection's state, and the live workers of each role. */
  cluster?: { id: string; redis: string; workers: Record<string, string[]> };
}

/** What the caller reports; the server decides the status from it and the config. */
export type HealthSnapshot = Omit<HealthReport, 'status'>;

/** What /healthz shows without the key: states and counts, not the cameras' last errors. */
export function publicHealth(snapshot: HealthSnapshot): HealthSnapshot {
  const cameras = Object.fromEntries(Object.entries(snapshot.cameras).map(([name, { lastError: _needsTheKey, ...camera }]) => [name, camera]));
  return { ...snapshot, cameras };
}

/** ok only when every camera enabled in the config is live (a camera missing from the report is not). */
function healthStatus(config: Config, cameras: HealthSnapshot['cameras']): HealthReport['status'] {
  const enabled = config.cameras.filter((camera) => camera.enabled);
  return enabled.every((camera) => cameras[camera.name]?.state === 'live') ? 'ok' : 'degraded';
}

export interface ServerOptions {
  /** The effective config (after command-line overrides): its enabled cameras decide /healthz. */
  config: Config;
  /** The key in force (apiKeyOf(config)); required by everything but /healthz and /metrics. */
  apiKey: string;
  health: () => HealthSnapshot | Promise<HealthSnapshot>;
  hub: AlertHub;
  /** Route plugins (e.g. the gallery API), registered behind the API key. */
  plugins?: FastifyPluginAsync[];
}

/** The fastify instance buildServer returns (its logger is the service's pino logger). */
export type UnmaskServer = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;

const PROBE_PATHS = new Set(['/healthz', '/metrics']);

/**
 * Builds the server without listening: the caller calls `listen({ host, port })` with
 * config.server. Closing the server closes the alert hub first (its sockets would hold it open).
 */
export function buildServer(opts: ServerOptions): UnmaskServer {
  const { apiKey, hub, config } = opts;
  if (!apiKey) throw new Error('an API key is required: set the environment variable UNMASK_API_KEY or server.apiKey in the config');

  const app = Fastify({
    loggerInstance: stageLogger('server'),
    // Probes come every few seconds; logging each would drown the service's own logs.
    logController: new LogController({ disableRequestLogging: (request) => PROBE_PATHS.has(pathOf(request.url)) }),
  });

  const brake = new AuthBrake(app as unknown as FastifyInstance, config.server);
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.public) return;
    const braked = await brake.braked(request.raw);
    if (braked) return reply.code(429).header('retry-after', String(braked.retryAfterSec)).send(braked);
    const auth = authorize(request.raw, apiKey);
    if (!auth.ok) {
      await brake.failed(request.raw);
      return reply.code(401).send(unauthorizedBody(auth.message));
    }
  });

  app.get('/healthz', { config: { public: true } }, async (request, reply) => {
    const snapshot = await opts.health();
    // Errors can name paths and hosts: they need the key (a wrong key here is not counted: probes are public).
    const shown = authorize(request.raw, apiKey).ok ? snapshot : publicHealth(snapshot);
    const report: HealthReport = { ...shown, status: healthStatus(config, snapshot.cameras) };
    return reply.code(report.status === 'ok' ? 200 : 503).send(report);
  });

  app.get('/metrics', { config: { public: true } }, async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics());
  });

  // A plain GET of the WebSocket endpoint (a browser tab, curl without upgrade headers).
  app.get(ALERTS_PATH, async (_request, reply) => {
    return reply
      .code(426)
      .header('Upgrade', 'websocket')
      .send({ error: 'upgrade_required', message: `${ALERTS_PATH} is a WebSocket endpoint: connect with a WebSocket client` });
  });

  for (const plugin of opts.plugins ?? []) app.register(plugin);

  hub.attach(app.server, async (request) => {
    const braked = await brake.braked(request);
    if (braked) return { ok: false, status: 429, message: braked.message, headers: { 'Retry-After': String(braked.retryAfterSec) } };
    const auth = authorize(request, apiKey);
    if (!auth.ok) await brake.failed(request);
    return auth;
  });
  app.addHook('preClose', async () => {
    await hub.close();
  });
  return app;
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
