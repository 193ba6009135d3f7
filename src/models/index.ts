// The models of the service, as configured: detector and recognizer behind their interfaces.
import { cpus } from 'node:os';
import { workerCount, type Config } from '../config.ts';
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
