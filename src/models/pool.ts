// Worker threads that each hold the models; requests go to the least busy one.
import { Worker } from 'node:worker_threads';
import { FACEAPI_RECOGNIZER_TEMPLATE } from '../align/templates.ts';
import type { DetectedFace, RgbImage } from '../types.ts';
import type { DetectorSettings } from './faceapi/detector.ts';
import type { Closable, Detector, Recognizer } from './types.ts';
import type { WorkerReply, WorkerRequest } from './worker.ts';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  pending: Map<number, Pending>;
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
type WorkerInfo = { detector: string; recognizer: { id: string; version: string; dims: number } };

const WORKER_URL = new URL('./worker-entry.mjs', import.meta.url);

export class ModelPool implements Detector, Recognizer, Closable {
  readonly id: string;
  readonly template = FACEAPI_RECOGNIZER_TEMPLATE;
  readonly recognizerId: string;
  readonly version: string;
  readonly dims: number;
  private nextId = 1;
  private closed = false;

  private constructor(private readonly workers: PoolWorker[], info: WorkerInfo) {
    this.id = info.detector;
    this.recognizerId = info.recognizer.id;
    this.version = info.recognizer.version;
    this.dims = info.recognizer.dims;
  }

  /** Starts `size` workers and waits until every one has loaded its models. */
  static async start(size: number, settings: DetectorSettings): Promise<ModelPool> {
    const workers: PoolWorker[] = [];
    try {
      const infos = await Promise.all(
        Array.from({ length: size }, () => {
          // execArgv empty: the entry registers tsx itself (--import tsx does not reach workers on Node 20).
          const worker = new Worker(WORKER_URL, { workerData: settings, execArgv: [] });
          const pw: PoolWorker = { worker, pending: new Map() };
          workers.push(pw);
          return new Promise<WorkerInfo>((resolve, reject) => {
            worker.on('message', (msg: WorkerReply) => {
              if (msg.id === -1) return msg.ok ? resolve(msg.result as WorkerInfo) : reject(new Error(msg.error));
              const p = pw.pending.get(msg.id);
              if (!p) return;
              pw.pending.delete(msg.id);
              if (msg.ok) p.resolve(msg.result);
              else p.reject(new Error(msg.error));
            });
            const fail = (err: Error) => {
              reject(err);
              for (const p of pw.pending.values()) p.reject(new Error(`model worker died: ${err.message}`));
              pw.pending.clear();
            };
            worker.on('error', fail);
            worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
          });
        }),
      );
      return new ModelPool(workers, infos[0]);
    } catch (err) {
      await Promise.all(workers.map((w) => w.worker.terminate()));
      throw err;
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Requests in flight across all workers. */
  get busy(): number {
    return this.workers.reduce((n, w) => n + w.pending.size, 0);
  }

  detect(image: RgbImage): Promise<DetectedFace[]> {
    return this.request({ op: 'detect', image }) as Promise<DetectedFace[]>;
  }

  /** A detector with other settings, running on the same workers. */
  detectorWith(settings: DetectorSettings): Detector {
    return {
      id: `faceapi-${settings.model}`,
      detect: (image) => this.request({ op: 'detect', image, settings }) as Promise<DetectedFace[]>,
    };
  }

  embed(crops: RgbImage[]): Promise<Float32Array[]> {
    if (crops.length === 0) return Promise.resolve([]);
    return this.request({ op: 'embed', crops }) as Promise<Float32Array[]>;
  }

  private request(body: DistributiveOmit<WorkerRequest, 'id'>): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('model pool is closed'));
    let target = this.workers[0];
    for (const w of this.workers) if (w.pending.size < target.pending.size) target = w;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      target.pending.set(id, { resolve, reject });
      target.worker.postMessage({ ...body, id } as WorkerRequest);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
