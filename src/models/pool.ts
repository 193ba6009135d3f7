// Worker threads that each open the same ONNX models: onnxruntime-node runs a session on the calling
// thread, so one thread per core is what lets detection, landmarks and embedding of several cameras
// use every core. Each request goes to the least busy thread; tensors cross as transferred buffers.
import { Worker } from 'node:worker_threads';
import { ModelError } from './onnx-model.ts';
import type { ExecutionProvider, ProviderFallback } from './providers.ts';
import type { Feeds, OnnxRunner } from './runner.ts';
import type { ModelInfo, PooledModel, PoolReply, PoolRequest } from './pool-protocol.ts';

export type { PooledModel } from './pool-protocol.ts';

interface Pending {
  resolve: (value: Feeds) => void;
  reject: (err: Error) => void;
}

interface PoolThread {
  worker: Worker;
  pending: Map<number, Pending>;
}

const WORKER_URL = new URL('./pool-worker-entry.mjs', import.meta.url);

export class OnnxPool {
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly threads: PoolThread[],
    private readonly models: Map<string, ModelInfo>,
  ) {}

  /** Starts `size` threads and waits until every one has opened every model. */
  static async start(size: number, models: PooledModel[]): Promise<OnnxPool> {
    if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`a pool needs 1 or more threads, got ${size}`);
    const threads: PoolThread[] = [];
    try {
      const infos = await Promise.all(Array.from({ length: size }, () => startThread(threads, models)));
      return new OnnxPool(threads, new Map(infos[0].map((info) => [info.name, info])));
    } catch (err) {
      await Promise.all(threads.map((t) => t.worker.terminate()));
      throw err;
    }
  }

  get size(): number {
    return this.threads.length;
  }

  /** Requests in flight across all threads. */
  get busy(): number {
    return this.threads.reduce((n, t) => n + t.pending.size, 0);
  }

  /** The pooled model `name` as a runner (closing it is the pool's business, so its close does nothing). */
  runner(name: string): OnnxRunner {
    const info = this.models.get(name);
    if (!info) throw new Error(`the model pool has no model "${name}" (it has ${[...this.models.keys()].join(', ')})`);
    return {
      version: info.version,
      provider: info.provider as ExecutionProvider,
      fallbacks: info.fallbacks as ProviderFallback[],
      inputNames: info.inputNames,
      outputNames: info.outputNames,
      run: (feeds) => this.run(name, feeds),
      close: async () => {},
    };
  }

  run(model: string, feeds: Feeds): Promise<Feeds> {
    if (this.closed) return Promise.reject(new Error('the model pool is closed'));
    let target = this.threads[0];
    for (const t of this.threads) if (t.pending.size < target.pending.size) target = t;
    const id = this.nextId++;
    // Copies, so that transferring leaves the caller's arrays usable.
    const sent: Feeds = {};
    for (const [k, v] of Object.entries(feeds)) sent[k] = { data: Float32Array.from(v.data), dims: v.dims };
    return new Promise((resolve, reject) => {
      target.pending.set(id, { resolve, reject });
      target.worker.postMessage({ id, op: 'run', model, feeds: sent } satisfies PoolRequest, Object.values(sent).map((t) => t.data.buffer as ArrayBuffer));
    });
  }

  /**
   * Lets the requests in flight finish, then has each thread release its sessions and exit. A thread
   * stopped in the middle of a native run aborts the whole process, so terminate() is only the last
   * resort, after CLOSE_TIMEOUT_MS.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.threads.map((t) => closeThread(t)));
  }
}

const CLOSE_TIMEOUT_MS = 10_000;

async function closeThread(thread: PoolThread): Promise<void> {
  const exited = new Promise<void>((resolve) => thread.worker.once('exit', () => resolve()));
  const settled = Promise.allSettled([...thread.pending.values()].map((p) => new Promise<void>((resolve) => {
    const { resolve: done, reject: failed } = p;
    p.resolve = (v) => (done(v), resolve());
    p.reject = (e) => (failed(e), resolve());
  })));
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS).unref());
  if ((await Promise.race([settled, timeout])) !== 'timeout') {
    thread.worker.postMessage({ id: 0, op: 'close' } satisfies PoolRequest);
    if ((await Promise.race([exited.then(() => 'exited' as const), timeout])) === 'exited') return;
  }
  await thread.worker.terminate();
}

function startThread(threads: PoolThread[], models: PooledModel[]): Promise<ModelInfo[]> {
  // execArgv empty: the entry registers tsx itself (--import tsx does not reach workers on Node 20).
  const worker = new Worker(WORKER_URL, { workerData: models, execArgv: [] });
  const thread: PoolThread = { worker, pending: new Map() };
  threads.push(thread);
  return new Promise<ModelInfo[]>((resolve, reject) => {
    worker.on('message', (msg: PoolReply) => {
      if (msg.kind === 'ready') return resolve(msg.models);
      if (msg.kind === 'failed') return reject(new ModelError(msg.error));
      const p = thread.pending.get(msg.id);
      if (!p) return;
      thread.pending.delete(msg.id);
      if (msg.kind === 'result') p.resolve(msg.outputs);
      else p.reject(new Error(msg.error));
    });
    const fail = (err: Error) => {
      reject(err);
      for (const p of thread.pending.values()) p.reject(new Error(`model thread died: ${err.message}`));
      thread.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
  });
}
