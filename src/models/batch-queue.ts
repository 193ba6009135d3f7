// Cross-camera batching: the items every caller submits gather into one run of a model, for up to
// `maxWaitMs` after the first of them or until `maxBatch` items, and each caller gets back its own
// results (or the run's error). At most `concurrency` batches run at once (one per model thread):
// while they run the next one fills, so under load batches grow by themselves, and a lone item waits
// at most `maxWaitMs`.

export interface BatchSettings {
  maxBatch: number;
  maxWaitMs: number;
  /** Batches in flight at once (default 1). */
  concurrency?: number;
}

interface Pending<In, Out> {
  item: In;
  request: Request<Out>;
  index: number;
  /** performance.now() when it was queued. */
  arrived: number;
}

/** One caller's call: resolved when all its items are back, rejected on the first failure of any. */
interface Request<Out> {
  results: Out[];
  left: number;
  resolve: (out: Out[]) => void;
  reject: (err: Error) => void;
  failed: boolean;
}

export class BatchQueue<In, Out> {
  private queue: Pending<In, Out>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly running = new Set<Promise<void>>();
  private closed = false;
  private readonly concurrency: number;

  constructor(
    /** What the queue is for, in errors ("inpaint batcher"). */
    private readonly name: string,
    private readonly runBatch: (items: In[]) => Promise<Out[]>,
    private readonly settings: BatchSettings,
    /** Called with the size of every batch run (the metrics' histogram). */
    private readonly onBatch: (items: number) => void = () => {},
  ) {
    if (!(Number.isInteger(settings.maxBatch) && settings.maxBatch >= 1)) throw new RangeError(`maxBatch must be a whole number, 1 or more, got ${settings.maxBatch}`);
    if (!(settings.maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be 0 or more, got ${settings.maxWaitMs}`);
    this.concurrency = settings.concurrency ?? 1;
    if (!(Number.isInteger(this.concurrency) && this.concurrency >= 1)) throw new RangeError(`concurrency must be a whole number, 1 or more, got ${this.concurrency}`);
  }

  /** Items waiting for a batch (not counting those running). */
  get queued(): number {
    return this.queue.length;
  }

  submit(items: In[]): Promise<Out[]> {
    if (this.closed) return Promise.reject(new Error(`the ${this.name} is closed`));
    if (!items.length) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const request: Request<Out> = { results: new Array(items.length), left: items.length, resolve, reject, failed: false };
      const arrived = performance.now();
      items.forEach((item, index) => this.queue.push({ item, request, index, arrived }));
      this.schedule();
    });
  }

  /** Runs what is queued and waits for every batch to finish; later submits are refused. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.running.size || this.queue.length) {
      while (this.queue.length && this.running.size < this.concurrency) this.start();
      await Promise.race(this.running);
    }
  }

  /** Starts batches while they are due and a slot is free; otherwise makes sure a timer will. */
  private schedule(): void {
    while (this.queue.length && this.running.size < this.concurrency) {
      const waited = performance.now() - this.queue[0].arrived;
      if (this.queue.length < this.settings.maxBatch && waited < this.settings.maxWaitMs) {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.schedule();
        }, this.settings.maxWaitMs - waited);
        return;
      }
      this.start();
    }
  }

  private start(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue.splice(0, this.settings.maxBatch);
    const run = this.run(batch).finally(() => {
      this.running.delete(run);
      this.schedule();
    });
    this.running.add(run);
  }

  private async run(batch: Pending<In, Out>[]): Promise<void> {
    this.onBatch(batch.length);
    let out: Out[];
    try {
      out = await this.runBatch(batch.map((p) => p.item));
      if (out.length !== batch.length) throw new Error(`the ${this.name}'s model returned ${out.length} results for ${batch.length} items`);
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

function fail<Out>(request: Request<Out>, error: Error): void {
  if (request.failed) return;
  request.failed = true;
  request.reject(error);
}
