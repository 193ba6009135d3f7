// `unmask eval lfw`: the paper's LFW evaluation (Tables II and III, Figs. 4, 6, 7) for GT, OCC,
// Telea and every ID-GAN generator in a folder, with several recognizers, through a per-image cache.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { ConfigError, type Config } from '../../src/config.ts';
import { SqliteEvalCache, MemoryEvalCache, type EvalCache } from '../eval/cache.ts';
import { writeFigures } from '../eval/figures.ts';
import { EvalFlagError, idganModelNames, parseNameList } from '../eval/flags.ts';
import { GT_CONDITION, inpainterCondition, OCC_CONDITION, runLfwEval, TELEA_CONDITION, type Condition } from '../eval/lfw.ts';
import { checkImagesExist, listLfwImages, MissingImagesError, PairsFormatError, readPairsFile, type LfwPair } from '../eval/pairs.ts';
import { loadEvalRecognizer, RECOGNIZER_IDS } from '../eval/recognizers/index.ts';
import type { EvalRecognizer } from '../eval/recognizers/types.ts';
import { resultsMarkdown } from '../eval/report.ts';
import { decodeImage } from '../../src/gallery/enroll.ts';
import type { Inpainter } from '../../src/models/types.ts';
import type { Detector } from '../../src/models/types.ts';
import { configFrom, positiveInteger, wholeNumber } from '../../src/cli/options.ts';

export interface EvalCliModels {
  enrollDetector: Detector;
  close(): Promise<void>;
}

export interface EvalCliDeps {
  /** The real models by default; tests pass fakes. */
  loadModels?: (config: Config) => Promise<EvalCliModels>;
  loadInpainter?: (path: string) => Promise<Inpainter>;
  /** By id (RECOGNIZER_IDS). */
  loadRecognizer?: (id: string) => Promise<EvalRecognizer>;
}

interface EvalLfwFlags {
  lfw: string;
  pairs: string;
  out: string;
  models: string;
  conditions?: string;
  recognizers?: string;
  limit?: number;
  seed: number;
  all?: boolean;
  /** A folder, or false with --no-cache. */
  cache: string | false;
  config?: string;
}

const FIXED_CONDITIONS = [GT_CONDITION, OCC_CONDITION, TELEA_CONDITION];

/**
 * The first ⌈n/2⌉ matched and ⌊n/2⌋ mismatched pairs in file order: a limited run keeps both
 * classes (View 1 lists all matched pairs first).
 */
export function balancedSubset(pairs: readonly LfwPair[], n: number): LfwPair[] {
  const matched = pairs.filter((p) => p.same).slice(0, Math.ceil(n / 2));
  const mismatched = pairs.filter((p) => !p.same).slice(0, Math.floor(n / 2));
  return [...matched, ...mismatched];
}

async function loadRealModels(config: Config): Promise<EvalCliModels> {
  const { loadModels } = await import('../../src/models/registry.ts');
  return loadModels(config);
}

async function loadOnnxInpainter(path: string): Promise<Inpainter> {
  const { OnnxInpainter } = await import('../../src/repair/idgan.ts');
  return OnnxInpainter.load(path);
}

export function registerEvalCommands(program: Command, deps: EvalCliDeps = {}): void {
  const loaders = {
    models: deps.loadModels ?? loadRealModels,
    inpainter: deps.loadInpainter ?? loadOnnxInpainter,
    recognizer: deps.loadRecognizer ?? loadEvalRecognizer,
  };
  const evalCommand = program.command('eval').description('measure the project against the paper (its §IV)');
  evalCommand
    .command('lfw')
    .description(
      'LFW: align every image of the pairs to the 128×128 crop, put a seeded 48×48 white block on it, restore it ' +
        '(GT, OCC, Telea, each models/idgan-*.onnx) and report PSNR/SSIM against GT and 10-fold verification accuracy per recognizer',
    )
    .requiredOption('--lfw <dir>', 'LFW folder: one sub-folder per person, <Name>/<Name>_<NNNN>.jpg')
    .requiredOption('--pairs <file>', "pairs file: View 2's pairs.txt or View 1's pairsDevTrain.txt / pairsDevTest.txt")
    .requiredOption('--out <dir>', 'where to write results.json, results.md and the figures')
    .option('--models <dir>', 'folder whose idgan-*.onnx generators are evaluated, each a condition named after its file (none is fine)', 'models')
    .option('--conditions <list>', `comma list of conditions (default: all; ${FIXED_CONDITIONS.map((c) => c.name).join(', ')} and each idgan-* model)`)
    .option('--recognizers <list>', `comma list of recognizers (default: all; ${RECOGNIZER_IDS.join(', ')})`)
    .option('--limit <n>', 'evaluate only n pairs (half matched, half mismatched) for a quick look', positiveInteger)
    .option('--seed <s>', 'seed of the hole placement', wholeNumber, 0)
    .option('--all', 'Table II over every image of the --lfw folder, not only those of the pairs')
    .option('--cache <dir>', 'per-image cache (landmarks, quality, embeddings), reused across runs', 'var/eval-cache')
    .option('--no-cache', 'compute everything and keep nothing')
    .option('--config <file>', 'config file (YAML) for the model workers')
    .action((flags: EvalLfwFlags) => reportingErrors(() => evalLfw(flags, loaders)));
}

/** A pairs file, folder or flag the command cannot use: one message and exit 1, no stack. */
class EvalInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvalInputError';
  }
}

async function reportingErrors(command: () => Promise<void>): Promise<void> {
  try {
    await command();
  } catch (err) {
    const userCanFix =
      err instanceof EvalInputError || err instanceof EvalFlagError || err instanceof PairsFormatError || err instanceof MissingImagesError || err instanceof ConfigError;
    if (!userCanFix) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = 1;
  }
}

async function readPairs(path: string) {
  try {
    return await readPairsFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === undefined) throw err;
    throw new EvalInputError(`cannot read the pairs file ${path}: ${(err as Error).message}`);
  }
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** One bar per stage, with the time left; on a pipe (no TTY) a line every 10 s instead. */
function progressBar(): { update(stage: string, done: number, total: number): void; stop(): void } {
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: '{stage} {bar} {value}/{total} images | {duration_formatted} elapsed | {eta_formatted} left',
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 10_000,
      etaBuffer: 200,
    },
    cliProgress.Presets.shades_classic,
  );
  let stage: string | undefined;
  return {
    update(next, done, total) {
      if (next !== stage) {
        if (stage !== undefined) bar.stop();
        stage = next;
        bar.start(total, 0, { stage: next.padEnd(9) });
      }
      bar.update(done);
    },
    stop() {
      if (stage !== undefined) bar.stop();
      stage = undefined;
    },
  };
}

async function evalLfw(
  flags: EvalLfwFlags,
  load: { models: NonNullable<EvalCliDeps['loadModels']>; inpainter: NonNullable<EvalCliDeps['loadInpainter']>; recognizer: NonNullable<EvalCliDeps['loadRecognizer']> },
): Promise<void> {
  const started = Date.now();
  // Everything a user can get wrong is checked before the models take their seconds to start.
  const parsed = await readPairs(flags.pairs);
  const pairs = flags.limit !== undefined ? balancedSubset(parsed.pairs, flags.limit) : parsed.pairs;
  const matched = pairs.filter((p) => p.same).length;
  if (matched < 2 || pairs.length - matched < 2)
    throw new EvalInputError(
      `10-fold verification needs at least 2 matched and 2 mismatched pairs, got ${matched} and ${pairs.length - matched}` +
        (flags.limit !== undefined ? ` (--limit ${flags.limit}: use 4 or more)` : ` in ${flags.pairs}`),
    );
  checkImagesExist(flags.lfw, pairs);
  const qualityImages = flags.all ? listLfwImages(flags.lfw) : undefined;
  const modelNames = existsSync(flags.models) ? idganModelNames(readdirSync(flags.models)) : [];
  const knownConditions = [...FIXED_CONDITIONS.map((c) => c.name), ...modelNames];
  const conditionNames = flags.conditions !== undefined ? parseNameList('--conditions', flags.conditions, knownConditions) : knownConditions;
  const recognizerIds = flags.recognizers !== undefined ? parseNameList('--recognizers', flags.recognizers, RECOGNIZER_IDS) : [...RECOGNIZER_IDS];
  const config = configFrom(flags.config);
  const modelDigests: Record<string, string> = {};
  for (const name of modelNames.filter((n) => conditionNames.includes(n))) modelDigests[name] = await sha256(join(flags.models, `${name}.onnx`));

  await mkdir(flags.out, { recursive: true });
  const cache: EvalCache = flags.cache === false ? new MemoryEvalCache() : new SqliteEvalCache(join(flags.cache, 'cache.db'));
  const inpainters: Inpainter[] = [];
  const recognizers: EvalRecognizer[] = [];
  const progress = progressBar();
  const models = await load.models(config);
  try {
    for (const id of recognizerIds) recognizers.push(await load.recognizer(id));
    const conditions: Condition[] = [];
    for (const name of conditionNames) {
      const fixed = FIXED_CONDITIONS.find((c) => c.name === name);
      if (fixed) {
        conditions.push(fixed);
        continue;
      }
      const inpainter = await load.inpainter(join(flags.models, `${name}.onnx`));
      inpainters.push(inpainter);
      conditions.push(inpainterCondition(name, inpainter));
    }
    const { result, figures } = await runLfwEval(
      {
        lfwDir: flags.lfw,
        pairs,
        qualityImages,
        // File folds only for a whole View 2 file; View 1 and limited runs are dealt into 10.
        useFileFolds: parsed.format === 'view2' && flags.limit === undefined,
        seed: flags.seed,
        decode: (bytes) => decodeImage(bytes, config.gallery.maxImagePixels),
        onProgress: (stage, done, total) => progress.update(stage, done, total),
        montageFaces: 6,
      },
      { detector: models.enrollDetector, recognizers, conditions, cache },
    );
    progress.stop();
    const command =
      `unmask eval lfw --lfw ${flags.lfw} --pairs ${flags.pairs} --out ${flags.out}` +
      (flags.models !== 'models' ? ` --models ${flags.models}` : '') +
      (flags.conditions !== undefined ? ` --conditions ${conditionNames.join(',')}` : '') +
      (flags.recognizers !== undefined ? ` --recognizers ${recognizerIds.join(',')}` : '') +
      (flags.limit !== undefined ? ` --limit ${flags.limit}` : '') +
      (flags.all ? ' --all' : '') +
      ` --seed ${flags.seed}`;
    const figureFiles = await writeFigures(flags.out, result, figures);
    const seconds = (Date.now() - started) / 1000;
    const json = { ...result, pairs_file: flags.pairs, command, models: modelDigests, seconds, figures: figureFiles };
    await writeFile(join(flags.out, 'results.json'), JSON.stringify(json, null, 2) + '\n');
    await writeFile(join(flags.out, 'results.md'), resultsMarkdown(result, { command, models: modelDigests, figures: figureFiles, seconds }));
    process.stdout.write(
      `${join(flags.out, 'results.md')}: ${result.n_pairs} pairs, ${result.n_images} images, ${result.detection.fallback} aligned without a detection, ${seconds.toFixed(0)} s\n`,
    );
  } finally {
    progress.stop();
    for (const inpainter of inpainters) await inpainter.close();
    for (const recognizer of recognizers) await recognizer.close();
    await models.close();
    cache.close();
  }
}
