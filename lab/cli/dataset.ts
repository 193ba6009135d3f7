// `unmask dataset align`: the inpainting model's training set, made by the service's own detector
// and aligner (training/ reads the folder it writes).
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { ConfigError, loadConfig, parseConfig, type Config } from '../../src/config.ts';
import { alignDataset } from '../dataset/align.ts';
import { DatasetError } from '../dataset/index-file.ts';
import type { Detector } from '../../src/models/types.ts';
import { fraction, positiveInteger, wholeNumber } from '../../src/cli/options.ts';

export interface DatasetCliModels {
  /** The enrollment photo detector: a training face is found as an enrolled one is. */
  enrollDetector: Detector;
  /** Model workers: the number of images kept in flight follows it. */
  threads: number;
  close(): Promise<void>;
}

export interface DatasetCliDeps {
  /** The detector the command runs; the real one by default (tests pass fakes). */
  loadModels?: (config: Config) => Promise<DatasetCliModels>;
}

interface AlignFlags {
  out: string;
  limit?: number;
  seed: number;
  valFraction: number;
  minConfidence: number;
  config?: string;
}

async function loadRealModels(config: Config): Promise<DatasetCliModels> {
  const { loadModels } = await import('../../src/models/registry.ts');
  return loadModels(config);
}




export function registerDatasetCommands(program: Command, deps: DatasetCliDeps = {}): void {
  const loadModels = deps.loadModels ?? loadRealModels;
  const dataset = program.command('dataset').description('make training data for the inpainting model');
  dataset
    .command('align')
    .description(
      'align every face of SRC (images/ + identity.txt) to the 128×128 inpainting crop; writes OUT/<identity>/<file>.png, ' +
        'OUT/index.csv (identity, train/val split, 68 landmarks in crop pixels) and OUT/missed.csv (images without a face). ' +
        'Resumable: images already in index.csv or missed.csv are skipped (delete missed.csv to retry those).',
    )
    .argument('<src>', 'source folder, e.g. ../shared/data/celeba-crops')
    .requiredOption('--out <dir>', 'output folder (keep it under var/, which git ignores)')
    .option('--limit <n>', 'only the first N images of identity.txt', positiveInteger)
    .option('--seed <n>', 'seed of the split by identity', wholeNumber, 0)
    .option('--val-fraction <f>', 'share of identities held out for validation', fraction, 0.1)
    .option('--min-confidence <f>', 'detector confidence a face needs', fraction, 0.5)
    .option('--config <file>', 'config file (YAML) for the model threads')
    .action((src: string, flags: AlignFlags) => reportingErrors(() => alignCommand(src, flags, loadModels)));
}

async function reportingErrors(command: () => Promise<void>): Promise<void> {
  try {
    await command();
  } catch (err) {
    if (!(err instanceof DatasetError || err instanceof ConfigError)) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = 1;
  }
}

async function alignCommand(src: string, flags: AlignFlags, loadModels: (config: Config) => Promise<DatasetCliModels>): Promise<void> {
  const config = flags.config ? loadConfig(flags.config) : parseConfig({});
  const models = await loadModels(config);
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'aligning {bar} {value}/{total} | {aligned} aligned, {missed} without a face | {eta_formatted} left',
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  try {
    const summary = await alignDataset(
      models.enrollDetector,
      {
        source: src,
        out: flags.out,
        limit: flags.limit,
        seed: flags.seed,
        valFraction: flags.valFraction,
        minConfidence: flags.minConfidence,
        concurrency: 2 * models.threads,
      },
      (p) => {
        if (!started) {
          bar.start(p.todo, 0, { aligned: 0, missed: 0 });
          started = true;
        }
        bar.update(p.handled, { aligned: p.aligned, missed: p.missed });
      },
    );
    bar.stop();
    started = false;
    const lines = [
      `${summary.listed} images listed: ${summary.aligned} aligned now, ${summary.missed} without a face now, ${summary.skipped} done before (skipped)`,
      `${flags.out}: ${summary.totalAligned} aligned faces in all; ${summary.trainIdentities} train / ${summary.valIdentities} val identities listed`,
      `index: ${summary.indexPath}`,
    ];
    if (summary.totalMissed) lines.push(`${summary.totalMissed} images without a face in all, listed in ${summary.missedPath}`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    if (started) bar.stop();
    await models.close();
  }
}
