// A recognizer whose faces, from every camera and the upper-face view alike, run in shared batches
// (batch-queue.ts): one run per batch on the model threads instead of one per face, which is what
// a GPU needs; on the CPU the threads stay busy with no face waiting more than `maxWaitMs`.
import { BatchQueue, type BatchSettings } from '../models/batch-queue.ts';
import type { Closable, Recognizer } from '../models/types.ts';
import type { RgbImage } from '../types.ts';

export class BatchedRecognizer implements Recognizer, Closable {
  readonly id: string;
  readonly version: string;
  readonly dims: number;
  readonly template: Recognizer['template'];
  private readonly queue: BatchQueue<RgbImage, Float32Array>;

  constructor(inner: Recognizer, settings: BatchSettings, onBatch?: (faces: number) => void) {
    this.id = inner.id;
    this.version = inner.version;
    this.dims = inner.dims;
    this.template = inner.template;
    this.queue = new BatchQueue(`${inner.id} batcher`, (crops) => inner.embed(crops), settings, onBatch);
  }

  embed(crops: RgbImage[]): Promise<Float32Array[]> {
    const { size } = this.template;
    // A wrong crop fails its caller alone, not the batch of every other camera.
    const bad = crops.find((c) => c.width !== size || c.height !== size);
    if (bad) return Promise.reject(new RangeError(`recognizer crop must be ${size}×${size}, got ${bad.width}×${bad.height}`));
    return this.queue.submit(crops);
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
