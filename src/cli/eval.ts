// `unmask eval lfw`: the paper's LFW evaluation (Tables II and III) for GT, OCC, Telea and every
// ONNX inpainting model in a folder, with face-api's recognizer.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, type Config } from '../config.ts';
import { inpainterCondition, resultsMarkdown, runLfwEval, TELEA_CONDITION, type Condition } from '../eval/lfw.ts';
import { checkImagesExist, MissingImagesError, PairsFormatError, readPairsFile, type LfwPair } from '../eval/pairs.ts';
import { decodeImage } from '../gallery/enroll.ts';
import type { Inpainter } from '../models/inpaint/types.ts';
import type { Detector, Recognizer } from '../models/types.ts';
import { configFrom, positiveInteger, wholeNumber } from './options.ts';

export interface EvalCliModels {
  enrollDetector: Detector;
  recognizer: Recognizer;
  close(): Promise<void>;
}

export interface EvalCliDeps {
  /** The real models by default; tests pass fakes. */
  loadModels?: (config: Config) => Promise<EvalCliModels>;
  loadInpainter?: (path: string) => Promise<Inpainter>;
}

interface EvalLfwFlags {
  lfw: string;
  pairs: string;
  out: string;
  models: string;
  limit?: number;
  seed: number;
  config?: string;
}



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
  const { loadModels } = await import('../models/index.ts');
  return loadModels(config);
}

async function loadOnnxInpainter(path: string): Promise<Inpainter> {
  const { OnnxInpainter } = await import('../models/inpaint/onnx.ts');
  return OnnxInpainter.load(path);
}

export function registerEvalCommands(program: Command, deps: EvalCliDeps = {}): void {
  const loadModels = deps.loadModels ?? loadRealModels;
  const loadInpainter = deps.loadInpainter ?? loadOnnxInpainter;
  const evalCommand = program.command('eval').description('measure the project against the paper (DESIGN.md §4)');
  evalCommand
    .command('lfw')
    .description(
      'LFW: align every image of the pairs to the 128×128 crop, put a seeded 48×48 white block on it, restore it ' +
        '(GT, OCC, Telea, each models/*.onnx) and report PSNR/SSIM against GT and 10-fold verification accuracy',
    )
    .requiredOption('--lfw <dir>', 'LFW folder: one sub-folder per person, <Name>/<Name>_<NNNN>.jpg')
    .requiredOption('--pairs <file>', "pairs file: View 2's pairs.txt or View 1's pairsDevTrain.txt / pairsDevTest.txt")
    .requiredOption('--out <dir>', 'where to write results.json and results.md')
    .option('--models <dir>', 'folder whose *.onnx inpainting models are evaluated (none is fine)', 'models')
    .option('--limit <n>', 'evaluate only n pairs (half matched, half mismatched) for a quick look', positiveInteger)
    .option('--seed <s>', 'seed of the hole placement', wholeNumber, 0)
    .option('--config <file>', 'config file (YAML) for the model workers')
    .action((flags: EvalLfwFlags) => reportingErrors(() => evalLfw(flags, loadModels, loadInpainter)));
}

/** A pairs file or LFW folder the command cannot use: one message and exit 1, no stack. */
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
    const userCanFix = err instanceof EvalInputError || err instanceof PairsFormatError || err instanceof MissingImagesError || err instanceof ConfigError;
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

async function evalLfw(
  flags: EvalLfwFlags,
  loadModels: (config: Config) => Promise<EvalCliModels>,
  loadInpainter: (path: string) => Promise<Inpainter>,
): Promise<void> {
  // Everything a user can get wrong is checked before the models take their seconds to start.
  const parsed = await readPairs(flags.pairs);
  const pairs = flags.limit !== undefined ? balancedSubset(parsed.pairs, flags.limit) : parsed.pairs;
  checkImagesExist(flags.lfw, pairs);
  const modelFiles = existsSync(flags.models)
    ? readdirSync(flags.models).filter((f) => f.endsWith('.onnx')).sort().map((f) => join(flags.models, f))
    : [];
  const config = configFrom(flags.config);
  const modelDigests: Record<string, string> = {};
  for (const file of modelFiles) modelDigests[basename(file, '.onnx')] = await sha256(file);

  await mkdir(flags.out, { recursive: true });
  const inpainters: Inpainter[] = [];
  const models = await loadModels(config);
  try {
    const conditions: Condition[] = [TELEA_CONDITION];
    for (const file of modelFiles) {
      const inpainter = await loadInpainter(file);
      inpainters.push(inpainter);
      conditions.push(inpainterCondition(basename(file, '.onnx'), inpainter));
    }
    let lastReport = 0;
    const result = await runLfwEval(
      {
        lfwDir: flags.lfw,
        pairs,
        // File folds only for a whole View 2 file; View 1 and limited runs are dealt into 10.
        useFileFolds: parsed.format === 'view2' && flags.limit === undefined,
        seed: flags.seed,
        decode: (bytes) => decodeImage(bytes, config.gallery.maxImagePixels),
        onProgress: (stage, done, total) => {
          if (done === total || Date.now() - lastReport > 2000) {
            lastReport = Date.now();
            process.stderr.write(`${stage}: ${done}/${total} images\n`);
          }
        },
      },
      { detector: models.enrollDetector, recognizer: models.recognizer, conditions },
    );
    const command = `unmask eval lfw --lfw ${flags.lfw} --pairs ${flags.pairs} --out ${flags.out}` +
      `${flags.models !== 'models' ? ` --models ${flags.models}` : ''}${flags.limit !== undefined ? ` --limit ${flags.limit}` : ''} --seed ${flags.seed}`;
    const json = { ...result, pairs_file: flags.pairs, command, models: modelDigests };
    await writeFile(join(flags.out, 'results.json'), JSON.stringify(json, null, 2) + '\n');
    await writeFile(join(flags.out, 'results.md'), resultsMarkdown(result, command, modelDigests));
    process.stdout.write(`${join(flags.out, 'results.md')}: ${result.n_pairs} pairs, ${result.n_images} images, ${result.detection.fallback} aligned without a detection\n`);
  } finally {
    for (const inpainter of inpainters) await inpainter.close();
    await models.close();
  }
}
