// Turns a folder of labelled face photos into the training set of the inpainting model: 128×128
// crops aligned by the service's own detector and aligner (the same crops the service inpaints),
// with identity labels, a train/val split by identity and the landmarks in crop coordinates.
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, parse as parsePath } from 'node:path';
import sharp from 'sharp';
import { INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { alignToTemplate, landmarksInCrop } from '../../src/align/warp.ts';
import type { Detector } from '../../src/models/types.ts';
import type { DetectedFace, RgbImage } from '../../src/types.ts';
import {
  AppendOnlyCsv,
  DatasetError,
  formatIndexRow,
  formatMissRow,
  INDEX_HEADER,
  MISSED_HEADER,
  parseIndexRow,
} from './index-file.ts';
import { splitOf } from './split.ts';

export interface LabelledImage {
  file: string;
  identity: string;
}

export interface AlignDatasetOptions {
  /** Folder with `images/` and `identity.txt` (`<file> <identity>` per line), as CelebA's. */
  source: string;
  out: string;
  /** Only the first N images of identity.txt. */
  limit?: number;
  seed: number;
  valFraction: number;
  /** Images in flight at once: enough to keep every model worker busy. */
  concurrency: number;
  /** Recorded in dataset.json: a resumed run must use the same detector settings. */
  minConfidence: number;
}

export interface AlignProgress {
  /** Images of this run handled so far (aligned or missed). */
  handled: number;
  /** Images this run has to handle (the listed ones not done before). */
  todo: number;
  aligned: number;
  missed: number;
}

export interface AlignSummary {
  listed: number;
  /** Listed images already handled by an earlier run (aligned or missed), skipped. */
  skipped: number;
  aligned: number;
  missed: number;
  /** Over the whole dataset folder, earlier runs included. */
  totalAligned: number;
  totalMissed: number;
  trainIdentities: number;
  valIdentities: number;
  indexPath: string;
  missedPath: string;
}

/**
 * Border added around each photo before detection, as a share of its longer side. SSD misses many
 * faces that fill the frame of a face-centred crop (52 of CelebA's first 60 found without a border,
 * 59 with one); its input is a fixed 512×512, so the border costs no detection time.
 */
export const DETECTION_BORDER = 0.25;

/** Names that are safe as one path component. */
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Reads `<file> <identity>` lines; refuses anything that could escape the output folder. */
export function parseIdentityList(text: string, where: string): LabelledImage[] {
  const seen = new Set<string>();
  const items: LabelledImage[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const parts = line.split(/\s+/);
    const at = `${where}:${i + 1}`;
    if (parts.length !== 2) throw new DatasetError(`${at}: expected "<file> <identity>", got "${line}"`);
    const [file, identity] = parts;
    if (!SAFE_NAME.test(file)) throw new DatasetError(`${at}: "${file}" is not a plain file name`);
    if (!SAFE_NAME.test(identity)) throw new DatasetError(`${at}: identity "${identity}" must be letters, digits, "_", "." or "-"`);
    if (seen.has(file)) throw new DatasetError(`${at}: ${file} is listed twice`);
    seen.add(file);
    items.push({ file, identity });
  });
  if (!items.length) throw new DatasetError(`${where} lists no images`);
  return items;
}

/**
 * The face the photo is about: the largest, discounted by its distance from the image centre in
 * units of its own size (a face-centred crop may show parts of bystanders at its edges).
 */
export function pickCentralFace(faces: readonly DetectedFace[], width: number, height: number): DetectedFace | undefined {
  let best: DetectedFace | undefined;
  let bestScore = -Infinity;
  for (const face of faces) {
    const { x, y, width: w, height: h } = face.box;
    const area = w * h;
    if (!(area > 0)) continue;
    const offset = Math.hypot(x + w / 2 - width / 2, y + h / 2 - height / 2) / Math.sqrt(area);
    const score = area / (1 + offset * offset);
    if (score > bestScore) {
      best = face;
      bestScore = score;
    }
  }
  return best;
}

/** The image with a border of `pad` pixels on each side that repeats its edge pixels. */
export function padByReplicatingEdges(image: RgbImage, pad: number): RgbImage {
  const width = image.width + 2 * pad;
  const height = image.height + 2 * pad;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(image.height - 1, Math.max(0, y - pad));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(image.width - 1, Math.max(0, x - pad));
      const s = (sy * image.width + sx) * 3;
      const d = (y * width + x) * 3;
      data[d] = image.data[s];
      data[d + 1] = image.data[s + 1];
      data[d + 2] = image.data[s + 2];
    }
  }
  return { width, height, data };
}

/** Faces found on the bordered image, in the coordinates of the original. */
export async function detectWithBorder(detector: Detector, image: RgbImage): Promise<DetectedFace[]> {
  const pad = Math.round(DETECTION_BORDER * Math.max(image.width, image.height));
  const faces = await detector.detect(padByReplicatingEdges(image, pad));
  return faces.map((f) => ({
    ...f,
    box: { ...f.box, x: f.box.x - pad, y: f.box.y - pad },
    landmarks: f.landmarks.map((p) => ({ x: p.x - pad, y: p.y - pad })),
  }));
}

interface DatasetMeta {
  template: string;
  size: number;
  detector: string;
  minConfidence: number;
  detectionBorder: number;
  seed: number;
  valFraction: number;
}

/** dataset.json: the settings the folder was made with; a resumed run must not mix others in. */
function checkOrWriteMeta(out: string, meta: DatasetMeta): void {
  const path = join(out, 'dataset.json');
  if (!existsSync(path)) {
    writeFileSync(path, JSON.stringify(meta, null, 2) + '\n');
    return;
  }
  let stored: Record<string, unknown>;
  try {
    stored = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new DatasetError(`${path} is not valid JSON (${(err as Error).message}); move it away to start afresh`);
  }
  for (const [key, value] of Object.entries(meta)) {
    if (stored[key] !== value)
      throw new DatasetError(
        `${out} was made with ${key} = ${JSON.stringify(stored[key])}, this run has ${JSON.stringify(value)}: ` +
          'use the same settings to resume, or another --out folder',
      );
  }
}

async function decodeRgb(path: string): Promise<RgbImage> {
  const { data, info } = await sharp(path, { failOn: 'error' })
    .rotate()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 colour channels, got ${info.channels}`);
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Writes the PNG under a temporary name first: a file at the final name is always complete. */
async function writePngAtomically(crop: RgbImage, path: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await sharp(crop.data, { raw: { width: crop.width, height: crop.height, channels: 3 } }).png().toFile(tmp);
  renameSync(tmp, path);
}

/** Files named in the first column of an opened CSV. */
function firstColumn(lines: readonly string[]): Set<string> {
  return new Set(lines.map((line) => line.slice(0, line.indexOf(','))));
}

export async function alignDataset(
  detector: Detector,
  options: AlignDatasetOptions,
  onProgress: (progress: AlignProgress) => void = () => {},
): Promise<AlignSummary> {
  const listPath = join(options.source, 'identity.txt');
  const imagesDir = join(options.source, 'images');
  if (!existsSync(listPath)) throw new DatasetError(`no ${listPath}: the source folder needs identity.txt ("<file> <identity>" per line)`);
  if (!existsSync(imagesDir) || !statSync(imagesDir).isDirectory())
    throw new DatasetError(`no folder ${imagesDir}: the source folder needs the photos in images/`);
  if (options.limit !== undefined && !(Number.isInteger(options.limit) && options.limit >= 1))
    throw new DatasetError(`limit must be a whole number, 1 or more, got ${options.limit}`);

  const listed = parseIdentityList(readFileSync(listPath, 'utf8'), listPath).slice(0, options.limit);
  mkdirSync(options.out, { recursive: true });
  checkOrWriteMeta(options.out, {
    template: INPAINT_TEMPLATE.name,
    size: INPAINT_TEMPLATE.size,
    detector: detector.id,
    minConfidence: options.minConfidence,
    detectionBorder: DETECTION_BORDER,
    seed: options.seed,
    valFraction: options.valFraction,
  });

  const index = AppendOnlyCsv.open(join(options.out, 'index.csv'), INDEX_HEADER);
  const missedCsv = AppendOnlyCsv.open(join(options.out, 'missed.csv'), MISSED_HEADER);
  try {
    index.lines.forEach((line, i) => parseIndexRow(line, `${index.path}:${i + 2}`));
    const done = new Set([...firstColumn(index.lines), ...firstColumn(missedCsv.lines)]);
    const todo = listed.filter((item) => !done.has(item.file));
    const progress: AlignProgress = { handled: 0, todo: todo.length, aligned: 0, missed: 0 };
    onProgress({ ...progress });

    const handle = async (item: LabelledImage): Promise<void> => {
      const miss = (reason: string) => {
        missedCsv.append(formatMissRow({ file: item.file, identity: item.identity, reason }));
        progress.missed++;
      };
      let image: RgbImage;
      try {
        image = await decodeRgb(join(imagesDir, item.file));
      } catch (err) {
        miss(`cannot decode: ${(err as Error).message}`);
        return;
      }
      const face = pickCentralFace((await detectWithBorder(detector, image)).filter((f) => f.score >= options.minConfidence), image.width, image.height);
      if (!face) {
        miss(`no face found by ${detector.id} at confidence ${options.minConfidence}`);
        return;
      }
      const { crop, transform } = alignToTemplate(image, face.landmarks, INPAINT_TEMPLATE);
      const identityDir = join(options.out, item.identity);
      mkdirSync(identityDir, { recursive: true });
      const imageName = `${item.identity}/${parsePath(item.file).name}.png`;
      await writePngAtomically(crop, join(options.out, imageName));
      index.append(
        formatIndexRow({
          file: item.file,
          image: imageName,
          identity: item.identity,
          split: splitOf(item.identity, options.seed, options.valFraction),
          score: face.score,
          landmarks: landmarksInCrop(transform, face.landmarks),
        }),
      );
      progress.aligned++;
    };

    let next = 0;
    const lane = async () => {
      while (next < todo.length) {
        await handle(todo[next++]);
        progress.handled++;
        onProgress({ ...progress });
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, lane));

    const identities = new Set(listed.map((item) => item.identity));
    let valIdentities = 0;
    for (const id of identities) if (splitOf(id, options.seed, options.valFraction) === 'val') valIdentities++;
    return {
      listed: listed.length,
      skipped: listed.length - todo.length,
      aligned: progress.aligned,
      missed: progress.missed,
      totalAligned: index.lines.length + progress.aligned,
      totalMissed: missedCsv.lines.length + progress.missed,
      trainIdentities: identities.size - valIdentities,
      valIdentities,
      indexPath: index.path,
      missedPath: missedCsv.path,
    };
  } finally {
    index.close();
    missedCsv.close();
  }
}
