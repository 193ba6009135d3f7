// One thread of an OnnxPool (pool.ts): opens every model it is given, then runs requests for them.
import { parentPort, workerData } from 'node:worker_threads';
import type { ModelInfo, PooledModel, PoolReply, PoolRequest } from './pool-protocol.ts';
import { openRunner, type Feeds, type OnnxRunner } from './runner.ts';

const port = parentPort;
if (!port) throw new Error('models/pool-worker.ts must run in a worker thread');
const specs = workerData as PooledModel[];

try {
  const runners = new Map<string, OnnxRunner>();
  for (const spec of specs)
    runners.set(spec.name, await openRunner(spec.path, spec.options, { what: spec.what, howToGet: spec.howToGet, error: (m) => new Error(m) }));
  port.on('message', async (req: PoolRequest) => {
    if (req.op === 'close') {
      for (const runner of runners.values()) await runner.close();
      port.close();
      return;
    }
    try {
      const runner = runners.get(req.model);
      if (!runner) throw new Error(`no model "${req.model}" in this thread`);
      // Copies: onnxruntime's output buffers are its own, not ours to transfer.
      const outputs: Feeds = {};
      for (const [name, t] of Object.entries(await runner.run(req.feeds))) outputs[name] = { data: Float32Array.from(t.data), dims: t.dims };
      port.postMessage({ kind: 'result', id: req.id, outputs } satisfies PoolReply, Object.values(outputs).map((t) => t.data.buffer as ArrayBuffer));
    } catch (err) {
      port.postMessage({ kind: 'error', id: req.id, error: (err as Error).message } satisfies PoolReply);
    }
  });
  const models: ModelInfo[] = [...runners].map(([name, r]) => ({
    name,
    version: r.version,
    provider: r.provider,
    fallbacks: r.fallbacks,
    inputNames: [...r.inputNames],
    outputNames: [...r.outputNames],
  }));
  port.postMessage({ kind: 'ready', models } satisfies PoolReply);
} catch (err) {
  port.postMessage({ kind: 'failed', error: (err as Error).message } satisfies PoolReply);
}
