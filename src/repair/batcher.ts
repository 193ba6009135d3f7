// Cross-camera batching of the inpainter (models/batch-queue.ts): the faces every camera's repair
// stage asks for run through the generator together.
import { BatchQueue, type BatchSettings } from '../models/batch-queue.ts';
import type { Inpainter } from '../models/types.ts';
import type { RgbImage } from '../types.ts';

export type { BatchSettings } from '../models/batch-queue.ts';

export class InpaintBatcher implements Inpainter {
  readonly id: string;
  readonly version: string;
  readonly size: number;
  private readonly queue: BatchQueue<{ crop: RgbImage; mask: Uint8Array }, RgbImage>;

  constructor(
    private readonly inner: Inpainter,
    settings: BatchSettings,
    /** Called with the size of every batch run (the metrics' histogram). */
    onBatch: (faces: number) => void = () => {},
  ) {
    this.id = inner.id;
    this.version = inner.version;
    this.size = inner.size;
    this.queue = new BatchQueue('inpaint batcher', (faces) => inner.inpaint(faces.map((f) => f.crop), faces.map((f) => f.mask)), settings, onBatch);
  }

  /** Faces waiting for a batch (not counting the one running). */
  get queued(): number {
    return this.queue.queued;
  }

  inpaint(crops: RgbImage[], masks: Uint8Array[]): Promise<RgbImage[]> {
    // A bad request fails alone, here, instead of failing the batch of every other camera.
    const invalid = this.check(crops, masks);
    if (invalid) return Promise.reject(new RangeError(invalid));
    return this.queue.submit(crops.map((crop, i) => ({ crop, mask: masks[i] })));
  }

  /** Runs what is queued, waits for every batch to finish, then closes the inner inpainter. */
  async close(): Promise<void> {
    await this.queue.close();
    await this.inner.close();
  }

  private check(crops: RgbImage[], masks: Uint8Array[]): string | undefined {
    if (crops.length !== masks.length) return `${crops.length} crops but ${masks.length} masks: one mask per crop`;
    const plane = this.size * this.size;
    for (let i = 0; i < crops.length; i++) {
      const { width, height, data } = crops[i];
      if (width !== this.size || height !== this.size || data.length !== plane * 3)
        return `crop ${i} is ${width}×${height} (${data.length} bytes), the inpainter takes ${this.size}×${this.size} RGB crops`;
      if (masks[i].length !== plane) return `mask ${i} has ${masks[i].length} values, expected ${plane}`;
    }
    return undefined;
  }
}
