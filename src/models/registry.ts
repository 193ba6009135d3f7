// The one model registry: it loads every model the config asks for, shares what can be shared,
// reports what runs where (/healthz, logs, metrics) and closes everything. The detector, landmark and
// recognition models run in a pool of threads (one per core); the occlusion segmenter and the
// inpainter in this thread, batched across cameras. The CLI commands load their models here too.
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { workerCount, type Config } from '../config.ts';
import { FaceDetector } from '../detect/face-detector.ts';
import { FaceApiOnnxLandmarker } from '../detect/faceapi-landmarks.ts';
import { FacepluginLandmarker } from '../detect/faceplugin-landmarks.ts';
import { FacepluginBoxDetector } from '../detect/faceplugin-rfb.ts';
import { ArcFaceRecognizer } from '../embed/arcface.ts';
import { BatchedRecognizer } from '../embed/batched.ts';
import { FaceApiOnnxRecognizer } from '../embed/faceapi.ts';
import { upperFaceView } from '../embed/upper-face.ts';
import { stageLogger } from '../observe/log.ts';
import { embedBatchFaces, inpaintBatchFaces, modelProvider } from '../observe/metrics.ts';
import { InpaintBatcher } from '../repair/batcher.ts';
import { HOW_TO_GET_A_MODEL, OnnxInpainter } from '../repair/idgan.ts';
import { FaceRepairer } from '../repair/repairer.ts';
import { HOW_TO_GET_A_SEGMENTER, OnnxOcclusionSegmenter } from '../repair/segmenter.ts';
import { vendoredModel } from './files.ts';
import { OnnxPool, type PooledModel } from './pool.ts';
import type { ExecutionProvider, ProviderChoice, ProviderFallback } from './providers.ts';
import type { Detector, Inpainter, Landmarker, OcclusionSegmenter, Recognizer } from './types.ts';

/**
 * An enrollment photo is detected on a grey canvas with this share of its longer side around it:
 * RFB-320 misses faces that fill the photo (tight crops) without context (README "Enrollment").
 */
export const PHOTO_CANVAS_MARGIN = 0.5;
/** Candidates down to this score are reported, so that a refused photo can say how close it came; gallery.minConfidence decides. */
const ENROLL_CANDIDATE_SCORE = 0.3;

const log = stageLogger('models');

export interface Models {
  /** Camera frames: RFB-320 boxes + face-api's landmark net. */
  detector: Detector;
  /** Enrollment photos: the same models, the photo on a canvas so that tight crops are found. */
  enrollDetector: Detector;
  /** The main recognizer (recognize.model), its faces batched across callers. */
  recognizer: Recognizer;
  /** The ArcFace network, for the upper-face view of masked faces (the main recognizer itself when it is ArcFace). */
  arcFace: Recognizer;
  /** faceplugin's 68-point model, steadier under a mask (occlusion crop, upper-face eyes). */
  maskLandmarker: Landmarker;
  /** Execution provider of each pooled model. */
  providers: Record<string, ExecutionProvider>;
  /** Requests in flight: the pipeline uses it to keep the threads fed but not flooded. */
  readonly busy: number;
  readonly threads: number;
  close(): Promise<void>;
}

/** Starts the model threads (one per core unless `detect.workers` says otherwise). */
export async function loadModels(config: Pick<Config, 'detect' | 'recognize'>, threads = workerCount(config, cpus().length)): Promise<Models> {
  const on = (provider: ProviderChoice) => (m: PooledModel): PooledModel => ({ ...m, options: { ...m.options, provider } });
  const pooled = [
    ...(['detector', 'landmarks', 'mask-landmarks'] as const).map((name) => on(config.detect.provider)(vendoredModel(name))),
    on(config.recognize.provider)(vendoredModel('arcface')),
    ...(config.recognize.model === 'faceapi' ? [on(config.recognize.provider)(vendoredModel('faceapi-recognizer'))] : []),
  ];
  const pool = await OnnxPool.start(threads, pooled);
  const providers: Record<string, ExecutionProvider> = {};
  for (const m of pooled) {
    const runner = pool.runner(m.name);
    providers[m.name] = runner.provider;
    reportProvider(m.name, m.options.provider ?? 'cpu', runner, false);
  }
  // One batch queue per network, one batch in flight per thread; the upper-face view shares ArcFace's.
  const batched = (r: Recognizer) => new BatchedRecognizer(r, { ...config.recognize.batch, concurrency: pool.size }, (n) => embedBatchFaces.observe({ model: r.id }, n));
  const arcFace = batched(new ArcFaceRecognizer(pool.runner('arcface')));
  const detector = new FaceDetector(new FacepluginBoxDetector(pool.runner('detector')), new FaceApiOnnxLandmarker(pool.runner('landmarks')), {
    minConfidence: config.detect.minConfidence,
  });
  return {
    detector,
    enrollDetector: detector.with({ minConfidence: ENROLL_CANDIDATE_SCORE, canvasMargin: PHOTO_CANVAS_MARGIN }),
    recognizer: config.recognize.model === 'faceapi' ? batched(new FaceApiOnnxRecognizer(pool.runner('faceapi-recognizer'))) : arcFace,
    arcFace,
    maskLandmarker: new FacepluginLandmarker(pool.runner('mask-landmarks')),
    providers,
    get busy() {
      return pool.busy;
    },
    threads: pool.size,
    close: () => pool.close(),
  };
}

/** The segmenter of `occlusion.model`, on `occlusion.provider`. */
export async function openSegmenter(config: Pick<Config, 'occlusion'>): Promise<OnnxOcclusionSegmenter> {
  const segmenter = await OnnxOcclusionSegmenter.load(config.occlusion.model, { provider: config.occlusion.provider });
  reportProvider('occlusion', config.occlusion.provider, segmenter);
  return segmenter;
}

/** The generator of `inpaint.model`, on `inpaint.provider`, one run per batch of the cross-camera batcher. */
export async function openInpainter(config: Pick<Config, 'inpaint'>): Promise<OnnxInpainter> {
  const inpainter = await OnnxInpainter.load(config.inpaint.model, { provider: config.inpaint.provider, batchSize: config.inpaint.batch.maxBatch });
  reportProvider('inpaint', config.inpaint.provider, inpainter);
  return inpainter;
}

/** What the service runs on top of the pooled models: the repair of covered faces and their upper face. */
export interface ServiceModels extends Models {
  /** Absent when `occlusion.model` is not there: every face is clean. */
  repairer?: FaceRepairer;
  /** Absent when the repairer is, or match.upperFace is off. */
  upperFace?: { recognizer: Recognizer; landmarker?: Landmarker };
  /** What runs, for /healthz: ids, versions, threads and each model's execution provider. */
  status(): ModelStatus;
}

export interface ModelStatus {
  detector: string;
  recognizer: string;
  occlusionLandmarks?: string;
  upperFaceRecognizer?: string;
  upperFaceEyes?: string;
  threads: number;
  providers: Record<string, ExecutionProvider>;
}

/** Everything the service needs; on a failure part-way, what was loaded is closed again. */
export async function loadServiceModels(config: Config): Promise<ServiceModels> {
  const models = await loadModels(config);
  try {
    log.info({ detector: models.detector.id, recognizer: models.recognizer.id, threads: models.threads }, 'models loaded');
    const providers: Record<string, ExecutionProvider> = { ...models.providers };
    const repair = await loadRepair(config, models.maskLandmarker);
    if (repair?.segmenter) providers.occlusion = repair.segmenter.provider;
    if (repair?.inpainter) providers.inpaint = repair.inpainter.provider;
    const repairer = repair?.repairer;
    const upperFace =
      repairer && config.match.upperFace.enabled
        ? {
            recognizer: upperFaceView(models.arcFace, config.match.upperFace.visibleHeight),
            landmarker: config.match.upperFace.eyes === 'faceplugin' ? models.maskLandmarker : undefined,
          }
        : undefined;
    if (upperFace)
      log.info({ recognizer: upperFace.recognizer.id, eyes: upperFace.landmarker?.id ?? 'detector', threshold: config.match.upperFace.threshold }, 'upper-face matching on');
    return {
      ...models,
      get busy() {
        return models.busy;
      },
      repairer,
      upperFace,
      providers,
      status: () => ({
        detector: models.detector.id,
        recognizer: `${models.recognizer.id}@${models.recognizer.version}`,
        ...(repairer ? { occlusionLandmarks: repairer.landmarker?.id ?? 'detector' } : {}),
        ...(upperFace ? { upperFaceRecognizer: `${upperFace.recognizer.id}@${upperFace.recognizer.version}`, upperFaceEyes: upperFace.landmarker?.id ?? 'detector' } : {}),
        threads: models.threads,
        providers,
      }),
      async close() {
        await repairer?.close();
        await models.close();
      },
    };
  } catch (err) {
    await models.close();
    throw err;
  }
}

/**
 * The repairer, when the segmenter's file is there (one log line says what is off and how to get it),
 * with the inpainter when it is on and its file is there. A file that is there but is not the expected
 * model is an error.
 */
async function loadRepair(config: Config, maskLandmarker: Landmarker): Promise<{ repairer: FaceRepairer; segmenter: OcclusionSegmenter & { provider: ExecutionProvider }; inpainter?: Inpainter & { provider: ExecutionProvider } } | undefined> {
  if (!existsSync(config.occlusion.model)) {
    log.info({ model: config.occlusion.model }, `occlusion stage off: no occlusion model (${HOW_TO_GET_A_SEGMENTER})`);
    return undefined;
  }
  const segmenter = await openSegmenter(config);
  let inpainter: OnnxInpainter | undefined;
  if (!config.inpaint.enabled) log.info('inpainting off (inpaint.enabled is false): occluded faces are measured, not repaired');
  else if (!existsSync(config.inpaint.model))
    log.info({ model: config.inpaint.model }, `inpainting off: no inpainting model (${HOW_TO_GET_A_MODEL}); occluded faces are measured, not repaired`);
  else {
    try {
      inpainter = await openInpainter(config);
    } catch (err) {
      await segmenter.close();
      throw err;
    }
  }
  // One batcher for every camera: their occluded faces run through the generator together.
  const batcher = inpainter && new InpaintBatcher(inpainter, config.inpaint.batch, (n) => inpaintBatchFaces.observe(n));
  const repairer = new FaceRepairer(
    segmenter,
    batcher,
    { ...config.occlusion, upperFace: config.match.upperFace.enabled },
    config.occlusion.landmarks === 'faceplugin' ? maskLandmarker : undefined,
  );
  log.info(
    { segmenter: segmenter.version, landmarks: repairer.landmarker?.id ?? 'detector', inpainter: inpainter?.version ?? 'off', batch: config.inpaint.batch },
    'occlusion repair on',
  );
  return { repairer, segmenter, inpainter };
}

/**
 * Logs the provider a model runs on and sets its gauge. A provider asked for by name that did not
 * start is a warning (the model runs, slower, on the CPU); under `auto` the skipped ones are expected.
 */
function reportProvider(model: string, choice: ProviderChoice, loaded: { provider: ExecutionProvider; fallbacks: ProviderFallback[] }, loud = true): void {
  modelProvider.set({ model, provider: loaded.provider }, 1);
  const fields = { model, requested: choice, provider: loaded.provider, ...(loaded.fallbacks.length ? { fallbacks: loaded.fallbacks } : {}) };
  if (choice !== 'auto' && loaded.provider !== choice) log.warn(fields, `${model}: the ${choice} execution provider did not start; running on the CPU`);
  else if (loud) log.info(fields, `${model} model on the ${loaded.provider} execution provider`);
  else log.debug(fields, `${model} model on the ${loaded.provider} execution provider`);
}
