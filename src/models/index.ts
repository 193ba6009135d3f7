// The models of the service, as configured: detector and recognizer behind their interfaces.
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { workerCount, type Config } from '../config.ts';
import { stageLogger, type Logger } from '../observe/log.ts';
import { modelProvider } from '../observe/metrics.ts';
import { HOW_TO_GET_A_MODEL, OnnxInpainter } from './inpaint/onnx.ts';
import type { Inpainter } from './inpaint/types.ts';
import { HOW_TO_GET_A_SEGMENTER, OnnxOcclusionSegmenter } from './occlusion/onnx.ts';
import type { OcclusionSegmenter } from './occlusion/types.ts';
import type { ExecutionProvider, ProviderChoice, ProviderFallback } from './providers.ts';
import { ModelPool } from './pool.ts';
import type { Detector, Recognizer } from './types.ts';

export type { Detector, Landmarker, Recognizer } from './types.ts';

export interface Models {
  /** The stream's detector, as configured (fast). */
  detector: Detector;
  /** For enrollment photos: accuracy over speed (SSD MobileNetV1), whatever the stream uses. */
  enrollDetector: Detector;
  recognizer: Recognizer;
  /** Requests in flight: the pipeline uses it to keep the workers fed but not flooded. */
  readonly busy: number;
  readonly threads: number;
  close(): Promise<void>;
}

/** Starts the model workers (one per core unless `detect.workers` says otherwise). */
export async function loadModels(config: Config, threads = workerCount(config, cpus().length)): Promise<Models> {
  const pool = await ModelPool.start(threads, config.detect);
  const recognizer: Recognizer = {
    id: pool.recognizerId,
    version: pool.version,
    dims: pool.dims,
    template: pool.template,
    embed: (crops) => pool.embed(crops),
  };
  return {
    detector: pool,
    // Candidates down to 0.3 so that a refused photo can say how close it came; the gallery's
    // minConfidence decides.
    enrollDetector: pool.detectorWith({ model: 'ssd', minConfidence: 0.3, tinyInputSize: config.detect.tinyInputSize }),
    recognizer,
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
function reportProvider(log: Logger, model: string, choice: ProviderChoice, loaded: { provider: ExecutionProvider; fallbacks: ProviderFallback[] }): void {
  modelProvider.set({ model, provider: loaded.provider }, 1);
  const fields = { model, requested: choice, provider: loaded.provider, ...(loaded.fallbacks.length ? { fallbacks: loaded.fallbacks } : {}) };
  if (choice !== 'auto' && loaded.provider !== choice) log.warn(fields, `${model}: the ${choice} execution provider did not start; running on the CPU`);
  else log.info(fields, `${model} model on the ${loaded.provider} execution provider`);
}
