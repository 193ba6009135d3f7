// The running service: models, gallery, cameras, pipeline, HTTP API and WebSocket alerts, together.
import { randomBytes } from 'node:crypto';
import { AlertHub } from './alert/hub.ts';
import { apiKeyOf, checkDataPaths, eventsPathOf, mqttCredentialsOf, type CameraConfig, type Config } from './config.ts';
import { EventHistory } from './events/index.ts';
import { MqttPublisher } from './mqtt/publisher.ts';
import { Enroller } from './gallery/enroll.ts';
import { seedDemoGallery } from './gallery/demo.ts';
import type { Gallery } from './gallery/gallery.ts';
import { openGalleryStore } from './gallery/open.ts';
import { GalleryStore } from './gallery/store.ts';
import { GalleryIndex } from './match/gallery-index.ts';
import type { GalleryMatcher } from './match/policy.ts';
import { SecondaryGallery } from './match/secondary-index.ts';
import { loadServiceModels, type ServiceModels } from './models/registry.ts';
import { setLogLevel, stageLogger } from './observe/log.ts';
import { Pipeline, type PipelineDeps } from './pipeline/index.ts';
import { buildServer, type CameraHealth, type HealthSnapshot, type UnmaskServer } from './server/app.ts';
import { cameraRoutes, CameraWatch, type CameraDirectory } from './server/routes/cameras.ts';
import { disabledEventRoutes, eventRoutes } from './server/routes/events.ts';
import { galleryRoutes } from './server/routes/gallery.ts';
import { startUiServer } from './server/ui.ts';
import { CameraSource } from './source/camera.ts';
import { DEMO_URL, ensureDemoVideo } from './source/demo.ts';
import type { AlertMessage } from './alert/message.ts';

const log = stageLogger('service');

export interface ServiceOptions {
  /** Called with every alert, besides the WebSocket subscribers (the console printer of `run`). */
  onAlert?: (alert: AlertMessage) => void;
  /** Passed to the pipeline (the bench's timings). */
  onStageTime?: PipelineDeps['onStageTime'];
  onAlertLatency?: PipelineDeps['onAlertLatency'];
  /** Where the demo video is built. */
  demoDir?: string;
}

export interface RunningService {
  /** http://host:port of the API; the WebSocket is at ws://host:port/alerts. */
  url: string;
  /** http://host:port of the operator's page; absent when ui.enabled is false. */
  uiUrl?: string;
  apiKey: string;
  /** True when the key was generated at start (none configured). */
  apiKeyGenerated: boolean;
  cameras: Map<string, CameraSource>;
  pipeline: Pipeline;
  server: UnmaskServer;
  /** The event history; absent when events.enabled is false. */
  events?: EventHistory;
  /** The MQTT publisher; absent without mqtt.url. */
  mqtt?: MqttPublisher;
  health(): Promise<HealthSnapshot>;
  stop(): Promise<void>;
}

/** Steps to undo, last first: what a failed start or a stop runs. */
export class Cleanup {
  private readonly steps: (() => Promise<void> | void)[] = [];

  push(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    for (const step of this.steps.reverse()) {
      try {
        await step();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'error while stopping');
      }
    }
    this.steps.length = 0;
  }
}

/** Starts everything; on a failure part-way, closes what was started and rethrows. */
export async function startService(config: Config, options: ServiceOptions = {}): Promise<RunningService> {
  const started = Date.now();
  // Refused with a plain message before anything starts: a short UNMASK_API_KEY, an unusable data path.
  const configuredKey = apiKeyOf(config);
  checkDataPaths(config);
  setLogLevel(config.log.level);
  const apiKey = configuredKey ?? randomBytes(18).toString('base64url');
  const cleanup = new Cleanup();
  try {
    const cameraConfigs = await resolveCameras(config.cameras.filter((c) => c.enabled), options.demoDir ?? 'var/demo');
    const models = await loadServiceModels(config);
    cleanup.push(() => models.close());
    const gallery = await openGallery(config, models, cleanup, { seedDemo: true });
    const front = await openFront(config, gallery, cleanup, options.onAlert);
    const { hub, events, mqtt } = front;
    const pipeline = new Pipeline({
      config,
      detector: models.detector,
      recognizer: models.recognizer,
      repairer: models.repairer,
      upperFace: models.upperFace,
      gallery: gallery.matcher,
      publish: front.publish,
      events: events?.recorder,
      onStageTime: options.onStageTime,
      onAlertLatency: options.onAlertLatency,
    });
    cleanup.push(() => pipeline.stop());

    const cameras = new Map<string, CameraSource>();
    const health = async (): Promise<HealthSnapshot> => ({
      uptimeSec: Math.round((Date.now() - started) / 1000),
      cameras: camerasHealth(cameras, pipeline),
      subscribers: hub.subscriberCount,
      gallery: await galleryHealth(gallery.store),
      models: models.status(),
    });
    const cameraWatch = new CameraWatch((name) => pipeline.stats()[name]?.framesDropped ?? 0);
    cleanup.push(() => cameraWatch.close());
    const { server, url, uiUrl } = await serveFront(config, apiKey, front, gallery, cameraWatch, health, cleanup);

    for (const camera of cameraConfigs) {
      const source = new CameraSource(camera, config.source);
      cameras.set(camera.name, source);
      pipeline.addCamera(camera.name, source.frames$);
      cameraWatch.add(camera.name, source);
      if (mqtt) {
        const states = source.statusChanges$.subscribe((status) => mqtt.cameraState(camera.name, status));
        cleanup.push(() => states.unsubscribe());
      }
      cleanup.push(() => source.stop());
      source.start();
    }
    log.info({ url, uiUrl, cameras: [...cameras.keys()] }, 'unmask is running');
    return {
      url,
      uiUrl,
      apiKey,
      apiKeyGenerated: !configuredKey,
      cameras,
      pipeline,
      server,
      health,
      ...(events ? { events } : {}),
      ...(mqtt ? { mqtt } : {}),
      stop: () => cleanup.run(),
    };
  } catch (err) {
    await cleanup.run();
    throw err;
  }
}

/**
 * The gallery store, its enroller, and the in-memory indexes the pipeline matches against (the main
 * recognizer's, and the upper face's when it is on); the demo people are enrolled into an empty
 * gallery when a demo camera plays.
 */
export async function openGallery(
  config: Config,
  models: Pick<ServiceModels, 'enrollDetector' | 'recognizer' | 'upperFace'>,
  cleanup: Cleanup,
  { seedDemo }: { seedDemo: boolean },
) {
  const store = await openGalleryStore(config);
  cleanup.push(() => store.close());
  const enroller = new Enroller({
    store,
    detector: models.enrollDetector,
    recognizer: models.recognizer,
    settings: config.gallery,
    secondary: models.upperFace?.recognizer,
  });
  if (seedDemo && config.cameras.some((c) => c.enabled && c.url === DEMO_URL) && (await store.listIdentities()).length === 0) {
    log.info('empty gallery and a demo camera: enrolling the people of the demo photos (first start only, about a minute)');
    const seeded = await seedDemoGallery(enroller);
    log.info({ identities: seeded }, 'empty gallery: enrolled the demo people');
  }
  const { index, reembed } = await GalleryIndex.open(store, models.recognizer, {
    pollIntervalMs: config.gallery.reloadIntervalMs,
    negativeMargin: config.match.negativeMargin,
  });
  cleanup.push(() => index.close());
  if (reembed.total > 0) log.info(reembed, 're-embedded gallery samples for the current recognizer');
  let upperFaceIndex: SecondaryGallery | undefined;
  if (models.upperFace) {
    const secondary = await SecondaryGallery.open(store, models.upperFace.recognizer, config.gallery.reloadIntervalMs, config.match.negativeMargin);
    upperFaceIndex = secondary;
    cleanup.push(() => secondary.close());
  }
  const matcher: GalleryMatcher = {
    search: (e, k) => index.search(e, k),
    ...(upperFaceIndex ? { searchUpperFace: (e: Float32Array, k: number) => upperFaceIndex.index.search(e, k) } : {}),
    // SQLite answers at once, with the identity as stored; another store's names come from the index, which follows it.
    identity: (id) => (store instanceof GalleryStore ? store.getIdentity(id) : index.identity(id)),
  };
  return { store, enroller, index, matcher };
}

/** What /healthz says of the gallery. */
export async function galleryHealth(store: Gallery): Promise<HealthSnapshot['gallery']> {
  const [identities, samples] = await Promise.all([store.listIdentities(), store.countSamples()]);
  return { identities: identities.length, samples };
}

type OpenedGallery = Awaited<ReturnType<typeof openGallery>>;

/** Where alerts go besides the pipeline: the WebSocket hub, the event history, MQTT (a cluster's gateways have these). */
export interface Front {
  hub: AlertHub;
  events?: EventHistory;
  mqtt?: MqttPublisher;
  /** Hands an alert to the subscribers, MQTT and `onAlert`; never blocks. `id`: a cluster's events stream entry. */
  publish(alert: AlertMessage, id?: string): void;
}

export async function openFront(config: Config, gallery: OpenedGallery, cleanup: Cleanup, onAlert?: (alert: AlertMessage) => void): Promise<Front> {
  // Closed after the pipeline stops (steps undo last first): what is queued is still written.
  const events = config.events.enabled ? await EventHistory.open(eventsPathOf(config), config.events, gallery.store, gallery.enroller) : undefined;
  if (events) cleanup.push(() => events.close());
  const mqttUrl = config.mqtt.url;
  const mqtt = mqttUrl ? new MqttPublisher({ ...config.mqtt, url: mqttUrl }, mqttCredentialsOf(config)) : undefined;
  if (mqtt) cleanup.push(() => mqtt.close());
  const hub = new AlertHub(config.server);
  return {
    hub,
    events,
    mqtt,
    publish: (alert, id = hub.nextId()) => {
      hub.publish(alert, id);
      // The same id as the WebSocket's: an MQTT consumer drops a QoS 1 redelivery by it.
      mqtt?.publishAlert({ ...alert, id });
      onAlert?.(alert);
    },
  };
}

/** The API (gallery, events, cameras) and the /alerts WebSocket on their port, and the page on its own. */
export async function serveFront(
  config: Config,
  apiKey: string,
  { hub, events }: Front,
  gallery: OpenedGallery,
  cameras: CameraDirectory,
  health: () => Promise<HealthSnapshot> | HealthSnapshot,
  cleanup: Cleanup,
): Promise<{ server: UnmaskServer; url: string; uiUrl?: string }> {
  const server = buildServer({
    config,
    apiKey,
    health,
    hub,
    plugins: [
      galleryRoutes({
        store: gallery.store,
        index: gallery.index,
        enroller: gallery.enroller,
        onIdentityDeleted: (id) => events?.identityDeleted(id),
      }),
      events ? eventRoutes({ events: events.store, feedback: events.feedback }) : disabledEventRoutes(),
      cameraRoutes(cameras),
    ],
  });
  cleanup.push(() => server.close());
  return { server, ...(await listen(config, server, cleanup)) };
}

/** Each camera's state and counters, for /healthz. */
function camerasHealth(cameras: Map<string, CameraSource>, pipeline: Pipeline): Record<string, CameraHealth> {
  const stats = pipeline.stats();
  const out: Record<string, CameraHealth> = {};
  for (const [name, cam] of cameras) {
    const s = cam.status();
    out[name] = {
      state: s.state,
      lastError: s.lastError,
      since: new Date(s.since).toISOString(),
      restarts: s.restarts,
      framesIn: s.framesIn,
      framesDropped: stats[name]?.framesDropped ?? 0,
      lastFrameAt: s.lastFrameAt ? new Date(s.lastFrameAt).toISOString() : undefined,
    };
  }
  return out;
}

/** The API on its port, and the operator's page on its own when it is on. */
export async function listen(config: Config, server: UnmaskServer, cleanup: Cleanup): Promise<{ url: string; uiUrl?: string }> {
  await server.listen({ host: config.server.host, port: config.server.port });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${port}`;
  if (!config.ui.enabled) return { url };
  const ui = await startUiServer({ host: config.ui.host, port: config.ui.port, api: { host: config.server.host, port } });
  cleanup.push(() => ui.close());
  return { url, uiUrl: ui.url };
}

/** `demo:` cameras play the demo video, built on first use. */
export async function resolveCameras(cameras: CameraConfig[], demoDir: string): Promise<CameraConfig[]> {
  if (!cameras.some((c) => c.url === DEMO_URL)) return cameras;
  const video = await ensureDemoVideo(demoDir);
  return cameras.map((c) => (c.url === DEMO_URL ? { ...c, url: video } : c));
}
