// An infer worker of the bench whose "model" costs a fixed time per face and no CPU: a stand-in for a
// model on a device of its own (a GPU, another machine's cores). Everything else is the real worker
// (src/cluster/infer.ts): the stream, the align stage on the region, the vote in Redis, the commit.
// Run by `unmask bench cluster` as a process of its own: argv[2] is its options as JSON. It prints
// "ready" once reading, and on SIGTERM a line "stats {…}" with its commit round trips and the CPU time
// it spent since it was ready, then exits.
import { ARCFACE_TEMPLATE } from '../../src/align/templates.ts';
import { InferWorker } from '../../src/cluster/infer.ts';
import { ClusterKeys, connectRedis } from '../../src/cluster/redis.ts';
import { parseConfig } from '../../src/config.ts';
import type { GalleryMatcher } from '../../src/match/policy.ts';
import type { Recognizer } from '../../src/models/types.ts';
import { setLogLevel } from '../../src/observe/log.ts';

export interface StubInferOptions {
  redis: string;
  prefix: string;
  id: string;
  /** Time the stand-in model takes per face, one face after another. */
  costMs: number;
  concurrency: number;
}

/** A recognizer that takes `costMs` per face, one call at a time, and gives each crop a vector of its mean colour. */
export function fixedCostRecognizer(costMs: number): Recognizer {
  let busy: Promise<unknown> = Promise.resolve();
  return {
    id: 'stub-fixed-cost',
    version: String(costMs),
    dims: 4,
    template: ARCFACE_TEMPLATE,
    embed: (crops) => {
      const run = busy.then(() => new Promise((r) => setTimeout(r, costMs * crops.length)));
      busy = run;
      return run.then(() =>
        crops.map((c) => {
          let sum = 0;
          for (let i = 0; i < c.data.length; i += 97) sum += c.data[i];
          return Float32Array.from([sum / (c.data.length / 97) / 255, 1, 0, 0]);
        }),
      );
    },
  };
}

/** 50 people; a face is the one its mean colour falls on. */
export const stubGallery: GalleryMatcher = {
  search: (e) => {
    const id = 1 + (Math.floor(e[0] * 1000) % 50);
    return [{ identity: { id, name: `Person ${id}` }, score: 0.9 }];
  },
  identity: (id) => ({ id, name: `Person ${id}` }),
};

if (process.argv[2]) {
  const options = JSON.parse(process.argv[2]) as StubInferOptions;
  setLogLevel('warn');
  const config = parseConfig({ cluster: { redis: options.redis, prefix: options.prefix, inferConcurrency: options.concurrency }, match: { cooldownSec: 0 } });
  const commits: number[] = [];
  const worker = new InferWorker({
    config,
    redis: connectRedis(options.redis, `${options.id}-commands`),
    reader: connectRedis(options.redis, `${options.id}-faces`),
    keys: new ClusterKeys(options.prefix),
    id: options.id,
    models: { recognizer: fixedCostRecognizer(options.costMs) },
    gallery: stubGallery,
    events: { alerts: true, attempts: false },
    onEntry: (_outcome, { commitMs }) => commits.push(commitMs),
  });
  await worker.start();
  const cpuAtStart = process.cpuUsage();
  console.log('ready');
  process.on('SIGTERM', () => {
    void worker.stop().then(() => {
      const cpu = process.cpuUsage(cpuAtStart);
      console.log(`stats ${JSON.stringify({ commits, cpuMs: (cpu.user + cpu.system) / 1000 })}`);
      process.exit(0);
    });
  });
}
