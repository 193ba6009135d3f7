// Cross-camera batching of the inpainter: the faces every camera's repair stage asks for gather into one
// run of the generator, for up to `maxWaitMs` after the first of them or until `maxBatch` faces, and
// each caller gets back its own faces (or the run's error). One batch runs at a time: while it runs the
// next one fills, so under load batches grow by themselves, and a lone face waits at most `maxWaitMs`.
import type { Inpainter } from '../models/inpaint/types.ts';
import type { RgbImage } from '../types.ts';

export interface BatchSettings {
  maxBatch: number;
  maxWaitMs: number;
}

/** One face waiting, and where its result goes. */
interface Pending {
  crop: RgbImage;
  mask: Uint8Array;
  request: Request;
  index: number;
  /** performance.now() when it was queued. */
  arrived: number;
}

/** One caller's call: resolved when all its faces are back, rejected on the first failure of any. */
interface Request {
  results: RgbImage[];
  left: number;
  resolve: (faces: RgbImage[]) => void;
  reject: (err: Error) => void;
  failed: boolean;
}

export class InpaintBatcher implements Inpainter {
  readonly id: string;
  readonly version: string;
  readonly size: number;
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly inner: Inpainter,
    private readonly settings: BatchSettings,
    /** Called with the size of every batch run (the metrics' histogram). */
    private readonly onBatch: (faces: number) => void = () => {},
  ) {
    if (!(Number.isInteger(settings.maxBatch) && settings.maxBatch >= 1)) throw new RangeError(`maxBatch must be a whole number, 1 or more, got ${settings.maxBatch}`);
    if (!(settings.maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be 0 or more, got ${settings.maxWaitMs}`);
    this.id = inner.id;
    this.version = inner.version;
    this.size = inner.size;
  }

  /** Faces waiting for a batch (not counting the one running). */
  get queued(): number {
    return this.queue.length;
  }

  inpaint(crops: RgbImage[], masks: Uint8Array[]): Promise<RgbImage[]> {
    if (this.closed) return Promise.reject(new Error('the inpaint batcher is closed'));
    // A bad request fails alone, here, instead of failing the batch of every other camera.
    const invalid = this.check(crops, masks);
    if (invalid) return Promise.reject(new RangeError(invalid));
    if (!crops.length) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const request: Request = { results: new Array(crops.length), left: crops.length, resolve, reject, failed: false };
      const arrived = performance.now();
      crops.forEach((crop, index) => this.queue.push({ crop, mask: masks[index], request, index, arrived }));
      this.schedule();
    });
  }

  /** Runs what is queued, waits for every batch to finish, then closes the inner inpainter. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.running || this.queue.length) {
      if (!this.running) this.start();
      await this.running;
    }
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

  /** Starts a batch now if one is due and none runs; otherwise makes sure a timer will. */
  private schedule(): void {
    if (this.running || !this.queue.length) return;
    const waited = performance.now() - this.queue[0].arrived;
    if (this.queue.length >= this.settings.maxBatch || waited >= this.settings.maxWaitMs) {
      this.start();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.schedule();
    }, this.settings.maxWaitMs - waited);
  }

  private start(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue.splice(0, this.settings.maxBatch);
    this.running = this.run(batch).finally(() => {
      this.running = undefined;
      this.schedule();
    });
  }

  private async run(batch: Pending[]): Promise<void> {
    this.onBatch(batch.length);
    let out: RgbImage[];
    try {
      out = await this.inner.inpaint(
        batch.map((p) => p.crop),
        batch.map((p) => p.mask),
      );
      if (out.length !== batch.length) throw new Error(`the inpainter returned ${out.length} faces for ${batch.length}`);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      for (const { request } of batch) fail(request, error);
      return;
    }
    batch.forEach(({ request, index }, i) => {
      if (request.failed) return;
      request.results[index] = out[i];
      if (--request.left === 0) request.resolve(request.results);
    });
  }
}

function fail(request: Request, error: Error): void {
  if (request.failed) return;
  request.failed = true;
  request.reject(error);
}
