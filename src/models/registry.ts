// The models of the service, as configured: every one on onnxruntime. The detector, landmark and
// recognition models run in a pool of threads (one per core); the occlusion segmenter and the
// inpainter in this thread, batched across cameras.
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { workerCount, type Config } from '../config.ts';
import { FaceDetector } from '../detect/face-detector.ts';
import { stageLogger, type Logger } from '../observe/log.ts';
import { embedBatchFaces, modelProvider } from '../observe/metrics.ts';
import { BatchedRecognizer } from '../embed/batched.ts';
import { faceApiModel } from './faceapi-files.ts';
import { FaceApiOnnxLandmarker } from '../detect/faceapi-landmarks.ts';
import { FaceApiOnnxRecognizer } from '../embed/faceapi.ts';
import { FacepluginBoxDetector } from '../detect/faceplugin-rfb.ts';
import { facepluginModel } from './faceplugin-files.ts';
import { FacepluginLandmarker } from '../detect/faceplugin-landmarks.ts';
import { ArcFaceRecognizer } from '../embed/arcface.ts';
import { HOW_TO_GET_A_MODEL, OnnxInpainter } from '../repair/idgan.ts';
import type { Inpainter } from '../repair/inpainter-types.ts';
import { HOW_TO_GET_A_SEGMENTER, OnnxOcclusionSegmenter } from '../repair/segmenter.ts';
import type { OcclusionSegmenter } from '../repair/segmenter-types.ts';
import { OnnxPool, type PooledModel } from './pool.ts';
import type { ExecutionProvider, ProviderChoice, ProviderFallback } from './providers.ts';
import type { Detector, Landmarker, Recognizer } from './types.ts';

export type { Detector, Landmarker, Recognizer } from './types.ts';

/**
 * An enrollment photo is detected on a grey canvas with this share of its longer side around it:
 * RFB-320 misses faces that fill the photo (tight crops) without context (README "Enrollment").
 */
export const PHOTO_CANVAS_MARGIN = 0.5;
/** Candidates down to this score are reported, so that a refused photo can say how close it came; gallery.minConfidence decides. */
const ENROLL_CANDIDATE_SCORE = 0.3;

export interface Models {
  /** Camera frames: RFB-320 boxes + face-api's landmark net. */
  detector: Detector;
  /** Enrollment photos: the same models, the photo on a canvas so that tight crops are found. */
  enrollDetector: Detector;
  /** The main recognizer (recognize.model). */
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
  const onDetect = (m: PooledModel): PooledModel => ({ ...m, options: { ...m.options, provider: config.detect.provider } });
  const onRecognize = (m: PooledModel): PooledModel => ({ ...m, options: { ...m.options, provider: config.recognize.provider } });
  const pooled = [
    onDetect(facepluginModel('fr_detect')),
    onDetect(faceApiModel('landmark68')),
    onDetect(facepluginModel('fr_landmark')),
    onRecognize(facepluginModel('fr_feature')),
    ...(config.recognize.model === 'faceapi' ? [onRecognize(faceApiModel('recognizer'))] : []),
  ];
  const pool = await OnnxPool.start(threads, pooled);
  const log = stageLogger('models');
  const providers: Record<string, ExecutionProvider> = {};
  for (const m of pooled) {
    const runner = pool.runner(m.name);
    providers[m.name] = runner.provider;
    reportProvider(log, m.name, m.options.provider ?? 'cpu', runner, false);
  }
  // One batch queue per network, one batch in flight per thread; the upper-face view shares ArcFace's.
  const batched = (r: Recognizer) => new BatchedRecognizer(r, { ...config.recognize.batch, concurrency: pool.size }, (n) => embedBatchFaces.observe({ model: r.id }, n));
  const arcFace = batched(new ArcFaceRecognizer(pool.runner('fr_feature')));
  const detector = new FaceDetector(new FacepluginBoxDetector(pool.runner('fr_detect')), new FaceApiOnnxLandmarker(pool.runner('landmark68')), {
    minConfidence: config.detect.minConfidence,
  });
  return {
    detector,
    enrollDetector: detector.with({ minConfidence: ENROLL_CANDIDATE_SCORE, canvasMargin: PHOTO_CANVAS_MARGIN }),
    recognizer: config.recognize.model === 'faceapi' ? batched(new FaceApiOnnxRecognizer(pool.runner('recognizer'))) : arcFace,
    arcFace,
    maskLandmarker: new FacepluginLandmarker(pool.runner('fr_landmark')),
    providers,
    get busy() {
      return pool.busy;
    },
    threads: pool.size,
    close: () => pool.close(),
  };
}

export interface RepairModels {
  /** Absent when `occlusion.model` is not there: the repair stage is off. */
  segmenter?: OcclusionSegmenter;
  /** Absent when `inpaint.enabled` is false or `inpaint.model` is not there: occluded faces go on unrepaired. */
  inpainter?: Inpainter;
  /** The execution provider each loaded model runs on (/healthz, logs). */
  providers: { occlusion?: ExecutionProvider; inpaint?: ExecutionProvider };
}

/**
 * The occlusion segmenter and the inpainter, each only when its file is there (one log line says what
 * is off and how to get it). A file that is there but is not the expected model is an error.
 */
export async function loadRepairModels(config: Pick<Config, 'occlusion' | 'inpaint'>): Promise<RepairModels> {
  const log = stageLogger('models');
  if (!existsSync(config.occlusion.model)) {
    log.info({ model: config.occlusion.model }, `occlusion stage off: no occlusion model (${HOW_TO_GET_A_SEGMENTER})`);
    return { providers: {} };
  }
  const segmenter = await OnnxOcclusionSegmenter.load(config.occlusion.model, { provider: config.occlusion.provider });
  reportProvider(log, 'occlusion', config.occlusion.provider, segmenter);
  const providers: RepairModels['providers'] = { occlusion: segmenter.provider };
  if (!config.inpaint.enabled) {
    log.info('inpainting off (inpaint.enabled is false): occluded faces are measured, not repaired');
    return { segmenter, providers };
  }
  if (!existsSync(config.inpaint.model)) {
    log.info({ model: config.inpaint.model }, `inpainting off: no inpainting model (${HOW_TO_GET_A_MODEL}); occluded faces are measured, not repaired`);
    return { segmenter, providers };
  }
  try {
    // One run of the generator per batch of the cross-camera batcher.
    const inpainter = await OnnxInpainter.load(config.inpaint.model, { provider: config.inpaint.provider, batchSize: config.inpaint.batch.maxBatch });
    reportProvider(log, 'inpaint', config.inpaint.provider, inpainter);
    return { segmenter, inpainter, providers: { ...providers, inpaint: inpainter.provider } };
  } catch (err) {
    await segmenter.close();
    throw err;
  }
}

/**
 * Logs the provider a model runs on and sets its gauge. A provider asked for by name that did not
 * start is a warning (the model runs, slower, on the CPU); under `auto` the skipped ones are expected.
 */
function reportProvider(log: Logger, model: string, choice: ProviderChoice, loaded: { provider: ExecutionProvider; fallbacks: ProviderFallback[] }, loud = true): void {
  modelProvider.set({ model, provider: loaded.provider }, 1);
  const fields = { model, requested: choice, provider: loaded.provider, ...(loaded.fallbacks.length ? { fallbacks: loaded.fallbacks } : {}) };
  if (choice !== 'auto' && loaded.provider !== choice) log.warn(fields, `${model}: the ${choice} execution provider did not start; running on the CPU`);
  else if (loud) log.info(fields, `${model} model on the ${loaded.provider} execution provider`);
  else log.debug(fields, `${model} model on the ${loaded.provider} execution provider`);
}
