// `unmask bench cluster`: the cluster roles on Redis Streams, measured on this machine
// (lab/cluster/bench.ts); a redis-server of its own is started and stopped.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { clusterBenchMarkdown, runClusterBench } from '../cluster/bench.ts';
import { haveRedis, noRedisReason } from '../cluster/processes.ts';
import { ConfigError } from '../../src/config.ts';
import { positiveInteger } from '../../src/cli/options.ts';

const LFW = '../shared/data/lfw-view1/images_deepfunneled';

interface Flags {
  out: string;
  lfw: string;
  faces: number;
  inferWorkers: string;
  stubCostMs: number;
  stubWorkers: string;
  stubFaces: number;
  latencySeconds: number;
  gallerySamples: number;
}

const counts = (flag: string, value: string): number[] => {
  const list = value.split(',').map(Number);
  if (!list.length || list.some((n) => !Number.isInteger(n) || n < 1)) throw new ConfigError(`${flag} expects counts like 1,2,4, got "${value}"`);
  return list;
};

export function clusterBenchCommand(): Command {
  return new Command('cluster')
    .description('the cluster on Redis Streams on this machine: bytes and costs per face, infer faces/s, stand-in model scaling, frame-to-alert against the single process')
    .requiredOption('-o, --out <file>', 'JSON results; the markdown table goes beside it (.md)')
    .option('--lfw <dir>', 'LFW View 1 images (the people on camera and in the gallery)', LFW)
    .option('--faces <n>', 'face entries each real infer run drains', positiveInteger, 200)
    .option('--infer-workers <list>', 'real infer worker counts', '1,2')
    .option('--stub-cost-ms <n>', "the stand-in model's time per face", positiveInteger, 25)
    .option('--stub-workers <list>', 'stand-in worker counts', '1,2,4,8')
    .option('--stub-faces <n>', 'face entries per stand-in worker and run', positiveInteger, 200)
    .option('--latency-seconds <n>', 'seconds of alerts each frame-to-alert run records', positiveInteger, 40)
    .option('--gallery-samples <n>', 'synthetic samples in the PostgreSQL gallery run', positiveInteger, 20_000)
    .action(async (flags: Flags) => {
      if (!haveRedis) throw new ConfigError(`bench cluster starts its own Redis: ${noRedisReason}`);
      const workDir = mkdtempSync(join(tmpdir(), 'unmask-bench-cluster-'));
      try {
        const result = await runClusterBench({
          lfwDir: flags.lfw,
          workDir,
          faces: flags.faces,
          inferWorkers: counts('--infer-workers', flags.inferWorkers),
          stubCostMs: flags.stubCostMs,
          stubWorkers: counts('--stub-workers', flags.stubWorkers),
          stubFacesPerWorker: flags.stubFaces,
          latencySeconds: flags.latencySeconds,
          gallerySamples: flags.gallerySamples,
          progress: (line) => console.error(`bench cluster: ${line}`),
        });
        mkdirSync(dirname(flags.out), { recursive: true });
        writeFileSync(flags.out, JSON.stringify(result, null, 2) + '\n');
        const md = clusterBenchMarkdown(result, `npx unmask bench cluster ${process.argv.slice(4).join(' ')}`.trim());
        const mdFile = flags.out.replace(/\.json$/i, '') + '.md';
        writeFileSync(mdFile, md);
        console.log(md);
        console.error(`bench cluster: wrote ${flags.out} and ${mdFile}`);
      } finally {
        rmSync(workDir, { recursive: true, force: true });
      }
    });
}
