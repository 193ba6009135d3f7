// The running service: models, gallery, cameras, pipeline, HTTP API and WebSocket alerts, together.
import { randomBytes } from 'node:crypto';
import { AlertHub } from './alert/hub.ts';
import { apiKeyOf, type CameraConfig, type Config } from './config.ts';
import { Enroller } from './gallery/enroll.ts';
import { seedDemoGallery } from './gallery/demo.ts';
import { GalleryIndex } from './match/gallery-index.ts';
import { SecondaryGallery } from './match/secondary-index.ts';
import { GalleryStore } from './gallery/store.ts';
import { loadModels, loadRepairModels, type Landmarker, type Models, type Recognizer } from './models/registry.ts';
import { upperFaceView } from './embed/upper-face-view.ts';
import { setLogLevel, stageLogger } from './observe/log.ts';
import { Pipeline, type PipelineDeps } from './pipeline/index.ts';
import { InpaintBatcher } from './repair/batcher.ts';
import { FaceRepairer } from './repair/repairer.ts';
import { inpaintBatchFaces } from './observe/metrics.ts';
import { buildServer, type CameraHealth, type HealthSnapshot, type UnmaskServer } from './server/app.ts';
import { cameraRoutes, CameraWatch } from './server/routes/cameras.ts';
import { galleryRoutes } from './server/routes/gallery.ts';
import { startUiServer } from './server/ui.ts';
import { CameraSource } from './source/camera.ts';
import { DEMO_URL, ensureDemoVideo } from './source/demo.ts';
import type { AlertMessage } from './types.ts';

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
  health(): HealthSnapshot;
  stop(): Promise<void>;
}

/** Starts everything; on a failure part-way, closes what was started and rethrows. */
export async function startService(config: Config, options: ServiceOptions = {}): Promise<RunningService> {
  const started = Date.now();
  setLogLevel(config.log.level);
  const configuredKey = apiKeyOf(config);
  const apiKey = configuredKey ?? randomBytes(18).toString('base64url');
  const cleanup: (() => Promise<void> | void)[] = [];
  const stopAll = async () => {
    for (const step of cleanup.reverse()) {
      try {
        await step();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'error while stopping');
      }
    }
    cleanup.length = 0;
  };

  try {
    const cameraConfigs = await resolveCameras(config.cameras.filter((c) => c.enabled), options.demoDir ?? 'var/demo');

    const models: Models = await loadModels(config);
    cleanup.push(() => models.close());
    log.info({ detector: models.detector.id, recognizer: models.recognizer.id, threads: models.threads }, 'models loaded');

    const repairModels = await loadRepairModels(config);
    // faceplugin's landmark model, for the segmenter's crop and the upper face's eyes.
    const landmarker = models.maskLandmarker;
    // One batcher for every camera: their occluded faces run through the generator together.
    const inpainter = repairModels.inpainter && new InpaintBatcher(repairModels.inpainter, config.inpaint.batch, (n) => inpaintBatchFaces.observe(n));
    const repairer = repairModels.segmenter
      ? new FaceRepairer(repairModels.segmenter, inpainter, config.occlusion, config.occlusion.landmarks === 'faceplugin' ? landmarker : undefined)
      : undefined;
    if (repairer) {
      cleanup.push(() => repairer.close());
      log.info(
        {
          segmenter: repairer.segmenter.version,
          landmarks: repairer.landmarker?.id ?? 'detector',
          inpainter: repairer.inpainter?.version ?? 'off',
          providers: repairModels.providers,
          batch: config.inpaint.batch,
        },
        'occlusion repair on',
      );
    }

    const store = GalleryStore.open(config.gallery.path);
    cleanup.push(() => store.close());
    const enroller = new Enroller({ store, detector: models.enrollDetector, recognizer: models.recognizer, settings: config.gallery });
    if (config.cameras.some((c) => c.enabled && c.url === DEMO_URL) && store.listIdentities().length === 0) {
      log.info('empty gallery and a demo camera: enrolling the people of the demo photos (first start only, about a minute)');
      const seeded = await seedDemoGallery(store, enroller);
      log.info({ identities: seeded }, 'empty gallery: enrolled the demo people');
    }
    const { index, reembed } = await GalleryIndex.open(store, models.recognizer, { pollIntervalMs: config.gallery.reloadIntervalMs });
    cleanup.push(() => index.close());
    if (reembed.total > 0) log.info(reembed, 're-embedded gallery samples for the current recognizer');

    // Faces covered below the eyes are matched on their upper face (needs the occlusion stage).
    let upperFace: { recognizer: Recognizer; landmarker?: Landmarker; gallery: SecondaryGallery } | undefined;
    if (repairer && config.match.upperFace.enabled) {
      const recognizer = upperFaceView(models.arcFace, config.match.upperFace.visibleHeight);
      const secondary = await SecondaryGallery.open(store, recognizer, config.gallery.reloadIntervalMs);
      cleanup.push(() => secondary.close());
      upperFace = { recognizer, landmarker: config.match.upperFace.eyes === 'faceplugin' ? landmarker : undefined, gallery: secondary };
      log.info(
        { recognizer: recognizer.id, eyes: upperFace.landmarker?.id ?? 'detector', samples: secondary.index.size, threshold: config.match.upperFace.threshold },
        'upper-face matching on',
      );
    }

    const hub = new AlertHub(config.server);
    const pipeline = new Pipeline({
      config,
      detector: models.detector,
      recognizer: models.recognizer,
      repairer,
      upperFace: upperFace && { recognizer: upperFace.recognizer, landmarker: upperFace.landmarker },
      gallery: {
        search: (e, k) => index.search(e, k),
        ...(upperFace ? { searchUpperFace: (e: Float32Array, k: number) => upperFace.gallery.index.search(e, k) } : {}),
        identity: (id) => store.getIdentity(id),
      },
      publish: (alert) => {
        hub.publish(alert);
        options.onAlert?.(alert);
      },
      onStageTime: options.onStageTime,
      onAlertLatency: options.onAlertLatency,
    });
    cleanup.push(() => pipeline.stop());

    const cameras = new Map<string, CameraSource>();
    const health = (): HealthSnapshot => {
      const stats = pipeline.stats();
      const cams: Record<string, CameraHealth> = {};
      for (const [name, cam] of cameras) {
        const s = cam.status();
        cams[name] = {
          state: s.state,
          lastError: s.lastError,
          since: new Date(s.since).toISOString(),
          restarts: s.restarts,
          framesIn: s.framesIn,
          framesDropped: stats[name]?.framesDropped ?? 0,
          lastFrameAt: s.lastFrameAt ? new Date(s.lastFrameAt).toISOString() : undefined,
        };
      }
      return {
        uptimeSec: Math.round((Date.now() - started) / 1000),
        cameras: cams,
        subscribers: hub.subscriberCount,
        gallery: { identities: store.listIdentities().length, samples: store.countSamples() },
        models: {
          detector: models.detector.id,
          recognizer: `${models.recognizer.id}@${models.recognizer.version}`,
          // Absent when the occlusion stage is off.
          ...(repairer ? { occlusionLandmarks: repairer.landmarker?.id ?? 'detector' } : {}),
          // Absent when upper-face matching is off (match.upperFace.enabled, or no occlusion model).
          ...(upperFace
            ? { upperFaceRecognizer: `${upperFace.recognizer.id}@${upperFace.recognizer.version}`, upperFaceEyes: upperFace.landmarker?.id ?? 'detector' }
            : {}),
          threads: models.threads,
          // The execution provider each ONNX model runs on; absent when the model is off.
          providers: { ...models.providers, ...repairModels.providers },
        },
      };
    };

    const cameraWatch = new CameraWatch((name) => pipeline.stats()[name]?.framesDropped ?? 0);
    cleanup.push(() => cameraWatch.close());
    const server = buildServer({
      config,
      apiKey,
      health,
      hub,
      plugins: [galleryRoutes({ store, index, enroller }), cameraRoutes(cameraWatch)],
    });
    cleanup.push(() => server.close());
    await server.listen({ host: config.server.host, port: config.server.port });
    const address = server.server.address();
    const port = typeof address === 'object' && address ? address.port : config.server.port;
    const url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${port}`;
    let uiUrl: string | undefined;
    if (config.ui.enabled) {
      const ui = await startUiServer({ host: config.ui.host, port: config.ui.port, api: { host: config.server.host, port } });
      cleanup.push(() => ui.close());
      uiUrl = ui.url;
    }

    for (const camera of cameraConfigs) {
      const source = new CameraSource(camera, config.source);
      cameras.set(camera.name, source);
      pipeline.addCamera(camera.name, source.frames$);
      cameraWatch.add(camera.name, source);
      cleanup.push(() => source.stop());
      source.start();
    }
    log.info({ url, uiUrl, cameras: [...cameras.keys()] }, 'unmask is running');

    return { url, uiUrl, apiKey, apiKeyGenerated: !configuredKey, cameras, pipeline, server, health, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** `demo:` cameras play the demo video, built on first use. */
async function resolveCameras(cameras: CameraConfig[], demoDir: string): Promise<CameraConfig[]> {
  if (!cameras.some((c) => c.url === DEMO_URL)) return cameras;
  const video = await ensureDemoVideo(demoDir);
  return cameras.map((c) => (c.url === DEMO_URL ? { ...c, url: video } : c));
}
