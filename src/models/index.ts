// The models of the service, as configured: detector and recognizer behind their interfaces.
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { workerCount, type Config } from '../config.ts';
import { stageLogger } from '../observe/log.ts';
import { HOW_TO_GET_A_MODEL, OnnxInpainter } from './inpaint/onnx.ts';
import type { Inpainter } from './inpaint/types.ts';
import { HOW_TO_GET_A_SEGMENTER, OnnxOcclusionSegmenter } from './occlusion/onnx.ts';
import type { OcclusionSegmenter } from './occlusion/types.ts';
import { ModelPool } from './pool.ts';
import type { Detector, Recognizer } from './types.ts';

export type { Detector, Recognizer } from './types.ts';

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
}

/**
 * The occlusion segmenter and the inpainter, each only when its file is there (one log line says what
 * is off and how to get it). A file that is there but is not the expected model is an error.
 */
export async function loadRepairModels(config: Pick<Config, 'occlusion' | 'inpaint'>): Promise<RepairModels> {
  const log = stageLogger('models');
  if (!existsSync(config.occlusion.model)) {
    log.info({ model: config.occlusion.model }, `occlusion stage off: no occlusion model (${HOW_TO_GET_A_SEGMENTER})`);
    return {};
  }
  const segmenter = await OnnxOcclusionSegmenter.load(config.occlusion.model);
  if (!config.inpaint.enabled) {
    log.info('inpainting off (inpaint.enabled is false): occluded faces are measured, not repaired');
    return { segmenter };
  }
  if (!existsSync(config.inpaint.model)) {
    log.info({ model: config.inpaint.model }, `inpainting off: no inpainting model (${HOW_TO_GET_A_MODEL}); occluded faces are measured, not repaired`);
    return { segmenter };
  }
  try {
    return { segmenter, inpainter: await OnnxInpainter.load(config.inpaint.model) };
  } catch (err) {
    await segmenter.close();
    throw err;
  }
}
