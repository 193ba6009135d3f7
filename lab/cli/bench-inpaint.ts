// `unmask bench inpaint`: the generator's faces per second at several batch sizes on one execution
// provider. A standalone command, so that the GPU bench bundle (scripts/gpu-bench/) runs it without the
// rest of the CLI and its dependencies.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { Command, Option } from 'commander';
import { BENCH_HOLES, DEFAULT_BENCH_BATCHES, checkBenchOptions, type BenchHole, inpaintBenchMarkdown, runInpaintBench } from '../bench/inpaint-bench.ts';
import { DEFAULT_INPAINT_MODEL } from '../../src/repair/idgan.ts';
import { PROVIDER_CHOICES, ProviderUnavailableError, type ProviderChoice } from '../../src/models/providers.ts';

/** Exit status when the asked provider cannot start here: run.sh tells "unavailable" from "broken" by it. */
export const EXIT_PROVIDER_UNAVAILABLE = 3;

interface Flags {
  out: string;
  model: string;
  provider: ProviderChoice;
  batches: string;
  seconds: string;
  minRuns: string;
  warmup: string;
  threads: string;
  hole: BenchHole;
}

export function inpaintBenchCommand(): Command {
  return new Command('inpaint')
    .description('inpainted faces per second of the ID-GAN generator at each batch size, on one execution provider')
    .requiredOption('-o, --out <file>', 'JSON results; the markdown table goes beside it (.md)')
    .option('--model <file>', 'the generator', DEFAULT_INPAINT_MODEL)
    .addOption(new Option('--provider <name>', 'execution provider; one that cannot start is an error (exit 3), not a CPU run').choices(PROVIDER_CHOICES).default('cpu'))
    .option('--batches <list>', 'batch sizes, measured in turn', DEFAULT_BENCH_BATCHES.join(','))
    .option('--seconds <n>', 'measure each batch size for at least this long', '5')
    .option('--min-runs <n>', '…and at least this many runs', '3')
    .option('--warmup <n>', 'unmeasured runs before each batch size', '2')
    .option('--threads <n>', 'CPU threads of the session (0 = one per core)', '0')
    .addOption(new Option('--hole <kind>', "each face's hole: a 48×48 square at a seeded place, or the lower face a surgical mask covers (the face prior costs more the larger the hole)").choices(BENCH_HOLES).default('square'))
    .action(async (flags: Flags, command: Command) => {
      const options = {
        model: flags.model,
        provider: flags.provider,
        batches: flags.batches.split(',').map((b) => Number(b.trim())),
        seconds: Number(flags.seconds),
        minRuns: Number(flags.minRuns),
        warmupRuns: Number(flags.warmup),
        threads: Number(flags.threads),
        hole: flags.hole,
      };
      try {
        checkBenchOptions(options);
      } catch (err) {
        command.error(`error: ${(err as Error).message}`);
      }
      mkdirSync(dirname(flags.out), { recursive: true });
      let result;
      try {
        result = await runInpaintBench({ ...options, progress: (line) => console.error(`bench inpaint: ${line}`) });
      } catch (err) {
        if (!(err instanceof ProviderUnavailableError)) throw err;
        // A result all the same: "this machine has no such provider" is a finding of the bench.
        const unavailable = { kind: 'inpaint', available: false, provider: { requested: flags.provider, reason: err.reason }, machine: { cpus: cpus().length, node: process.version } };
        writeFileSync(flags.out, JSON.stringify(unavailable, null, 2) + '\n');
        console.error(`bench inpaint: ${err.message}; wrote ${flags.out}`);
        process.exitCode = EXIT_PROVIDER_UNAVAILABLE;
        return;
      }
      writeFileSync(flags.out, JSON.stringify({ ...result, available: true }, null, 2) + '\n');
      const md = inpaintBenchMarkdown(result);
      const mdFile = flags.out.replace(/\.json$/i, '') + '.md';
      writeFileSync(mdFile, md);
      console.log(md);
      console.error(`bench inpaint: wrote ${flags.out} and ${mdFile}`);
    });
}
