// `unmask bench`: one run of the throughput and latency figures, as JSON and a markdown table.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { benchMarkdown, runBench } from '../bench/bench.ts';
import { runSoak, soakMarkdown, soakSvg } from '../bench/soak.ts';
import { ConfigError } from '../../src/config.ts';
import { clusterBenchCommand } from './bench-cluster.ts';
import { inpaintBenchCommand } from './bench-inpaint.ts';
import { configFrom } from '../../src/cli/options.ts';

const SHARED_CLIP = '../shared/data/video/short_hamilton_clip.mp4';

interface BenchFlags {
  out?: string;
  config?: string;
  video?: string;
  fps: string;
  cameras: string;
  seconds: string;
  peerSeconds: string;
}

export function registerBenchCommand(program: Command): void {
  const bench = program
    .command('bench')
    .description('measure: ffmpeg decode ceiling, a plain face-api loop, the service with N cameras, latencies (`bench inpaint`: the generator alone; `bench cluster`: the roles on Redis)')
    // Not requiredOption: commander would then ask `bench inpaint` for bench's own --out too.
    .option('-o, --out <file>', 'JSON results; the markdown table goes beside it (.md) (required)')
    // Options after `inpaint` are the subcommand's (its own --out).
    .enablePositionalOptions()
    .option('-c, --config <file>', 'YAML config whose detector and thresholds are measured')
    .option('--video <file>', `clip to play on every camera (default ${SHARED_CLIP})`)
    .option('--fps <n>', 'detection rate per camera', '5')
    .option('--cameras <list>', 'camera counts of the live runs', '1,2,4,6')
    .option('--seconds <n>', 'length of each live run', '12')
    .option('--peer-seconds <n>', 'seconds of the clip the peer loop processes, every frame', '10')
    .action(async (flags: BenchFlags) => {
      if (!flags.out) throw new ConfigError('bench needs --out FILE (where the JSON results go)');
      const out = flags.out;
      const video = flags.video ?? SHARED_CLIP;
      if (!existsSync(video)) throw new ConfigError(`no clip at ${video}: give one with --video FILE`);
      const cameraCounts = flags.cameras.split(',').map(Number);
      if (cameraCounts.some((n) => !Number.isInteger(n) || n < 1)) throw new ConfigError(`--cameras expects counts like 1,2,4, got "${flags.cameras}"`);
      const config = configFrom(flags.config);
      const result = await runBench({
        video,
        width: 640,
        height: 360,
        fps: Number(flags.fps),
        cameraCounts,
        runSeconds: Number(flags.seconds),
        peerSeconds: Number(flags.peerSeconds),
        config,
        progress: (line) => console.error(`bench: ${line}`),
      });
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
      const md = benchMarkdown(result, `npx unmask ${process.argv.slice(2).join(' ')}`);
      const mdFile = out.replace(/\.json$/i, '') + '.md';
      writeFileSync(mdFile, md);
      console.log(md);
      console.error(`bench: wrote ${out} and ${mdFile}`);
    });
  bench.addCommand(inpaintBenchCommand());
  bench.addCommand(clusterBenchCommand());
  bench.addCommand(soakCommand());
}

interface SoakFlags {
  minutes: string;
  out: string;
  config?: string;
  dropEvery: string;
  down: string;
  fps: string;
}

/** `unmask bench soak`: the service for N minutes against a camera that drops every 30 s. */
function soakCommand(): Command {
  return new Command('soak')
    .description('run the service for N minutes against a camera that drops every 30 s: recoveries, frames lost, memory and handles over time, a plot')
    .requiredOption('--minutes <n>', 'how long')
    .option('-o, --out <file>', 'JSON results; the markdown table (.md) and the plot (.svg) go beside it', 'results/soak/soak.json')
    .option('-c, --config <file>', 'YAML config of the service (its cameras, gallery and ports are the soak\'s own)')
    .option('--drop-every <s>', 'seconds between two drops', '30')
    .option('--down <s>', 'seconds the camera refuses connections after a drop', '3')
    .option('--fps <n>', "the camera's frame rate", '5')
    .action(async (flags: SoakFlags) => {
      const minutes = Number(flags.minutes);
      if (!(minutes > 0)) throw new ConfigError(`--minutes expects a positive number, got "${flags.minutes}"`);
      const dataDir = mkdtempSync(join(tmpdir(), 'unmask-soak-'));
      try {
        const result = await runSoak({
          minutes,
          dropEverySec: Number(flags.dropEvery),
          downSec: Number(flags.down),
          sampleEverySec: 5,
          fps: Number(flags.fps),
          dataDir,
          config: flags.config ? configFrom(flags.config) : undefined,
          progress: (line) => console.error(`bench soak: ${line}`),
        });
        mkdirSync(dirname(flags.out), { recursive: true });
        const stem = flags.out.replace(/\.json$/i, '');
        writeFileSync(flags.out, JSON.stringify(result, null, 2) + '\n');
        writeFileSync(`${stem}.md`, soakMarkdown(result, `npx unmask ${process.argv.slice(2).join(' ')}`));
        writeFileSync(`${stem}.svg`, soakSvg(result));
        console.log(soakMarkdown(result, `npx unmask ${process.argv.slice(2).join(' ')}`));
        console.error(`bench soak: wrote ${flags.out}, ${stem}.md and ${stem}.svg`);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
}
