// `unmask enroll` and `unmask gallery list | remove | purge`: the gallery from the command line.
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import cliProgress from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import { ConfigError, type Config } from '../config.ts';
import { configFrom } from './options.ts';
import { Enroller } from '../gallery/enroll.ts';
import { GalleryError, imageTooLarge } from '../gallery/errors.ts';
import type { Gallery } from '../gallery/gallery.ts';
import { openGalleryStore } from '../gallery/open.ts';
import { GalleryStore, validIdentityName, type IdentityRecord } from '../gallery/store.ts';
import type { Detector, Recognizer } from '../models/types.ts';

export interface GalleryCliModels {
  /** The accurate detector for enrollment photos. */
  enrollDetector: Detector;
  recognizer: Recognizer;
  /** The upper-face view, embedded at enrollment when no face source is kept (gallery.keepFaceSources: false). */
  secondary?: Recognizer;
  close(): Promise<void>;
}

export interface GalleryCliDeps {
  /** The models enrollment runs; the real ones by default (tests pass fakes). */
  loadModels?: (config: Config) => Promise<GalleryCliModels>;
}

interface FileOptions {
  gallery?: string;
  config?: string;
}

interface EnrollOptions extends FileOptions {
  name: string;
  face?: number;
}

// Loaded on first use, so that `gallery list` does not start the model runtime. Enrollment handles
// one photo at a time: one model worker is enough and starts fastest.
async function loadRealModels(config: Config): Promise<GalleryCliModels> {
  const { loadModels } = await import('../models/registry.ts');
  const models = await loadModels(config, 1);
  if (config.gallery.keepFaceSources || !config.match.upperFace.enabled) return models;
  const { upperFaceView } = await import('../embed/upper-face.ts');
  return { ...models, secondary: upperFaceView(models.arcFace, config.match.upperFace.visibleHeight), close: () => models.close() };
}

function parseNonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number, 0 or more');
  return Number(value);
}

function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected an identity id (a whole number, 1 or more)');
  return Number(value);
}

export function registerGalleryCommands(program: Command, deps: GalleryCliDeps = {}): void {
  const loadModels = deps.loadModels ?? loadRealModels;

  program
    .command('enroll')
    .description('add photos of one person to the gallery (the identity is created if new)')
    .requiredOption('--name <name>', 'who the photos show')
    .argument('<images...>', 'photo files (JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIF)')
    .option('--face <n>', 'which face when a photo shows several, numbered from 0 left to right', parseNonNegativeInt)
    .option('--gallery <file>', 'gallery database (default: gallery.path of the config)')
    .option('--config <file>', 'config file (YAML)')
    .action((images: string[], options: EnrollOptions) => reportingErrors(() => enrollCommand(images, options, loadModels)));

  const gallery = program.command('gallery').description('inspect and edit the gallery');
  gallery
    .command('list')
    .description('identities with their number of face samples')
    .option('--gallery <file>', 'gallery database (default: gallery.path of the config)')
    .option('--config <file>', 'config file (YAML)')
    .action((options: FileOptions) => reportingErrors(async () => listCommand(options)));
  gallery
    .command('remove')
    .description('delete an identity and all its face samples')
    .argument('<id>', 'identity id (see `unmask gallery list`)', parsePositiveInt)
    .option('--gallery <file>', 'gallery database (default: gallery.path of the config)')
    .option('--config <file>', 'config file (YAML)')
    .action((id: number, options: FileOptions) => reportingErrors(async () => removeCommand(id, options)));
  gallery
    .command('purge')
    .description('rewrite the gallery file so that nothing deleted is left in it (VACUUM); --face-sources also erases the kept face sources')
    .option('--face-sources', 'erase every sample\'s face source (what gallery.keepFaceSources: false keeps from now on); samples then cannot be re-embedded')
    .option('--gallery <file>', 'gallery database (default: gallery.path of the config)')
    .option('--config <file>', 'config file (YAML)')
    .action((options: FileOptions & { faceSources?: boolean }) => reportingErrors(async () => purgeCommand(options)));
}

/** Errors a user can fix are printed as one clear message with a non-zero exit; bugs keep their stack. */
async function reportingErrors(command: () => Promise<void>): Promise<void> {
  try {
    await command();
  } catch (err) {
    if (!(err instanceof GalleryError || err instanceof ConfigError)) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = 1;
  }
}

function configOf(options: FileOptions): Config {
  return configFrom(options.config);
}

function galleryPathOf(options: FileOptions, config: Config): string {
  return options.gallery ?? config.gallery.path;
}

/** The file of --gallery, else the gallery of the config (gallery.store: its file, or its PostgreSQL database). */
function openCliGallery(options: FileOptions, config: Config, { create }: { create: boolean }): Promise<Gallery> | Gallery {
  return options.gallery ? GalleryStore.open(options.gallery, { create }) : openGalleryStore(config, { create });
}

/** The photo's bytes; its size is checked before reading, so a huge file is refused without loading it. */
async function readPhoto(file: string, maxImageBytes: number): Promise<Buffer> {
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new Error('not a regular file');
    size = info.size;
  } catch (err) {
    throw new GalleryError('not_an_image', 415, `cannot read ${file}: ${(err as Error).message}`);
  }
  if (size > maxImageBytes) throw imageTooLarge(`${size} bytes, more than gallery.maxImageBytes (${maxImageBytes})`);
  return readFile(file);
}

async function enrollCommand(
  images: string[],
  options: EnrollOptions,
  loadModels: (config: Config) => Promise<GalleryCliModels>,
): Promise<void> {
  const config = configOf(options);
  const name = validIdentityName(options.name); // before the models take seconds to load
  const store = await openCliGallery(options, config, { create: true });
  let models: GalleryCliModels | undefined;
  const progress = new cliProgress.MultiBar(
    { stream: process.stderr, format: 'enrolling {bar} {value}/{total} {file}', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  // The bar draws on stderr when it is a terminal; result lines then go through it so that they
  // print above the bar instead of tearing it. Redirected output gets plain lines.
  let barShown = false;
  const say = (line: string, isError = false) => {
    if (barShown && (isError || process.stdout.isTTY)) progress.log(`${line}\n`);
    else (isError ? process.stderr : process.stdout).write(`${line}\n`);
  };
  const stopBar = () => {
    if (!barShown) return;
    progress.update(); // prints the lines still queued: stop() alone would drop them
    progress.stop();
    barShown = false;
  };
  try {
    models = await loadModels(config);
    const enroller = new Enroller({
      store,
      detector: models.enrollDetector,
      recognizer: models.recognizer,
      settings: config.gallery,
      secondary: models.secondary,
    });
    const existing = await store.findIdentityByName(name);
    // A new identity is created with its first accepted photo, in one transaction: killed at any
    // moment, the command leaves no identity without photos.
    let identity: IdentityRecord | undefined = existing;
    let stored = 0, duplicates = 0, failed = 0;
    const bar = progress.create(images.length, 0, { file: '' });
    barShown = Boolean(process.stderr.isTTY);
    for (const file of images) {
      bar.update({ file: basename(file) });
      try {
        const bytes = await readPhoto(file, config.gallery.maxImageBytes);
        let result;
        if (identity) result = await enroller.enroll(identity.id, bytes, { faceIndex: options.face });
        else identity = (result = await enroller.enrollNew(name, bytes, { faceIndex: options.face })).identity;
        if (result.duplicate) {
          duplicates++;
          say(`= ${file}: already enrolled for "${identity.name}" (sample ${result.sample.id}); not stored again`);
        } else {
          stored++;
          say(`✓ ${file}: enrolled for "${identity.name}" (sample ${result.sample.id})${result.chosen ? `; ${result.chosen.reason}` : ''}`);
        }
      } catch (err) {
        if (!(err instanceof GalleryError)) throw err;
        failed++;
        say(`✗ ${file}: ${err.message.replaceAll('\n', '\n    ')}`, true);
      }
      bar.increment();
    }
    stopBar();
    if (!identity) {
      say(`identity "${name}" not created: none of its photos could be enrolled`, true);
    } else {
      say(
        `"${identity.name}" (identity ${identity.id}${existing ? '' : ', new'}): ${stored} enrolled, ` +
          `${duplicates} already there, ${failed} failed — ${store.path}`,
      );
    }
    if (failed) process.exitCode = 1;
  } finally {
    stopBar();
    await models?.close();
    await store.close();
  }
}

async function listCommand(options: FileOptions): Promise<void> {
  const store = await openCliGallery(options, configOf(options), { create: false });
  try {
    const identities = await store.listIdentities();
    if (!identities.length) {
      process.stdout.write(`the gallery ${store.path} has no identities yet\n`);
      return;
    }
    const rows = [['ID', 'NAME', 'SAMPLES', 'CREATED'], ...identities.map((i) => [String(i.id), i.name, String(i.sampleCount), i.createdAt])];
    const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
    const numeric = [true, false, true, false];
    for (const row of rows) {
      const cells = row.map((cell, column) => (numeric[column] ? cell.padStart(widths[column]) : cell.padEnd(widths[column])));
      process.stdout.write(`${cells.join('  ').trimEnd()}\n`);
    }
  } finally {
    await store.close();
  }
}

function purgeCommand(options: FileOptions & { faceSources?: boolean }): void {
  const store = GalleryStore.open(galleryPathOf(options, configOf(options)), { create: false });
  try {
    const report = store.purge({ faceSources: options.faceSources === true });
    const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
    process.stdout.write(
      `${store.path}: rewritten without free pages, ${mb(report.bytesBefore)} → ${mb(report.bytesAfter)}` +
        (options.faceSources ? `; ${report.faceSourcesDropped} face source${report.faceSourcesDropped === 1 ? '' : 's'} erased` : '') +
        '\n',
    );
  } finally {
    store.close();
  }
}

async function removeCommand(id: number, options: FileOptions): Promise<void> {
  const store = await openCliGallery(options, configOf(options), { create: false });
  try {
    const { identity, sampleIds } = await store.deleteIdentity(id);
    process.stdout.write(
      `removed identity ${identity.id} "${identity.name}" and its ${sampleIds.length} face sample${sampleIds.length === 1 ? '' : 's'} from ${store.path}\n`,
    );
  } finally {
    await store.close();
  }
}
