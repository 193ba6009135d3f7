// The LFW evaluation (paper §IV, DESIGN.md §4): every image of the pairs aligned to the 128×128
// inpainting crop, occluded by its seeded 48×48 white block, restored by each condition, then
// scored for image quality (PSNR/SSIM against GT) and face verification (10-fold accuracy, AUC).
import { readFile } from 'node:fs/promises';
import { estimateSimilarity } from '../align/similarity.ts';
import { INPAINT_TEMPLATE } from '../align/templates.ts';
import { alignToTemplate, warpImage } from '../align/warp.ts';
import { detectWithBorder, pickCentralFace } from '../dataset/align.ts';
import type { Inpainter } from '../models/inpaint/types.ts';
import type { Detector, Recognizer } from '../models/types.ts';
import type { Point, RgbImage } from '../types.ts';
import { seededHole, whiteOut } from './holes.ts';
import { psnr, ssim } from './metrics.ts';
import { lfwImagePath, pairImages, type LfwImage, type LfwPair } from './pairs.ts';
import { teleaInpaint } from './telea.ts';
import { crossValidatedAccuracy, interleavedFolds, rocAuc } from './verification.ts';

/** A way of filling the hole; GT and OCC are the two without one. */
export interface Condition {
  name: string;
  restore(occluded: RgbImage[], masks: Uint8Array[]): Promise<RgbImage[]>;
}

export const TELEA_CONDITION: Condition = {
  name: 'Telea',
  restore: async (occluded, masks) => occluded.map((crop, i) => teleaInpaint(crop, masks[i])),
};

export function inpainterCondition(name: string, inpainter: Inpainter): Condition {
  return { name, restore: (occluded, masks) => inpainter.inpaint(occluded, masks) };
}

export interface LfwEvalOptions {
  lfwDir: string;
  pairs: LfwPair[];
  /** Keep the file's folds (View 2, all pairs); otherwise pairs are dealt into 10 folds. */
  useFileFolds: boolean;
  seed: number;
  /** Images decoded, aligned and embedded per step. */
  batchSize?: number;
  decode(bytes: Uint8Array): Promise<RgbImage>;
  onProgress?(stage: string, done: number, total: number): void;
}

export interface LfwEvalDeps {
  detector: Detector;
  recognizer: Recognizer;
  /** The restoring conditions, after GT and OCC (Telea, each model). */
  conditions: Condition[];
}

export interface MeanStd {
  mean: number;
  std: number;
}

/**
 * Per-image PSNR is capped here before averaging: an exact restoration (possible on flat images)
 * has infinite PSNR, which would make the mean infinite.
 */
export const PSNR_CAP_DB = 100;

export interface LfwEvalResult {
  n_pairs: number;
  n_images: number;
  seed: number;
  detection: { detector: string; found: number; fallback: number; fallbackImages: string[] };
  /** Mean over the images, against GT (GT itself left out: its PSNR is infinite); PSNR capped at PSNR_CAP_DB per image. */
  psnr: Record<string, number>;
  ssim: Record<string, number>;
  accuracy: Record<string, Record<string, MeanStd>>;
  auc: Record<string, Record<string, number>>;
}

/** "Name/Name_0001.jpg": an image's name independent of where LFW lies, the key of its hole. */
export function imageKey(image: LfwImage): string {
  return lfwImagePath('', image).replace(/^[\\/]/, '').replaceAll('\\', '/');
}

/** Cosine similarity: the verification score of two embeddings. */
export function cosineSimilarity(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`embeddings differ in length: ${a.length} and ${b.length}`);
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  if (na === 0 || nb === 0) throw new RangeError('an all-zero embedding has no direction');
  return dot / Math.sqrt(na * nb);
}

/**
 * The recognizer's chip cut from the 128 inpainting crop. Both are dlib-style templates of the same
 * five points, so the similarity between them is fixed: the chip shows the recognizer exactly
 * what aligning the photo to its own template would, resampled once more.
 */
export function recognizerChipFromCrop(crop: RgbImage, recognizer: Pick<Recognizer, 'template'>): RgbImage {
  const chipToCrop = estimateSimilarity(recognizer.template.points, INPAINT_TEMPLATE.points);
  return warpImage(crop, chipToCrop, recognizer.template.size, recognizer.template.size);
}

function meanLandmarks(sets: readonly Point[][]): Point[] {
  return sets[0].map((_, k) => ({
    x: sets.reduce((s, l) => s + l[k].x, 0) / sets.length,
    y: sets.reduce((s, l) => s + l[k].y, 0) / sets.length,
  }));
}

export async function runLfwEval(options: LfwEvalOptions, deps: LfwEvalDeps): Promise<LfwEvalResult> {
  const { pairs, seed } = options;
  const batchSize = options.batchSize ?? 16;
  const images = pairImages(pairs);
  const keys = images.map(imageKey);
  const load = async (i: number) => options.decode(await readFile(lfwImagePath(options.lfwDir, images[i])));

  // Pass 1: landmarks. LFW's images are centred by its own detector, so an image where ours finds
  // no face is aligned with the mean landmarks of those where it does (counted and listed).
  const landmarks: (Point[] | undefined)[] = [];
  for (let i = 0; i < images.length; i++) {
    const image = await load(i);
    const face = pickCentralFace(await detectWithBorder(deps.detector, image), image.width, image.height);
    landmarks.push(face?.landmarks);
    options.onProgress?.('detect', i + 1, images.length);
  }
  const found = landmarks.filter((l): l is Point[] => l !== undefined);
  if (found.length === 0) throw new Error(`${deps.detector.id} found no face in any of the ${images.length} images: no alignment to fall back on`);
  const centred = meanLandmarks(found);
  const fallbackImages = keys.filter((_, i) => landmarks[i] === undefined);

  // Pass 2: crops, conditions, quality and embeddings, a batch at a time.
  const conditionNames = ['GT', 'OCC', ...deps.conditions.map((c) => c.name)];
  const quality = new Map(conditionNames.slice(1).map((name) => [name, { psnr: 0, ssim: 0 }]));
  const embeddings = new Map(conditionNames.map((name) => [name, [] as Float32Array[]]));
  for (let start = 0; start < images.length; start += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, images.length - start) }, (_, k) => start + k);
    const gt: RgbImage[] = [];
    for (const i of indices) gt.push(alignToTemplate(await load(i), landmarks[i] ?? centred, INPAINT_TEMPLATE).crop);
    const masks = indices.map((i) => seededHole(keys[i], seed, INPAINT_TEMPLATE.size));
    const occluded = gt.map((crop, k) => whiteOut(crop, masks[k]));
    const restored = new Map<string, RgbImage[]>([['GT', gt], ['OCC', occluded]]);
    for (const condition of deps.conditions) {
      const out = await condition.restore(occluded, masks);
      if (out.length !== occluded.length) throw new Error(`condition ${condition.name} returned ${out.length} images for ${occluded.length}`);
      restored.set(condition.name, out);
    }
    for (const [name, crops] of restored) {
      const q = quality.get(name);
      if (q) crops.forEach((crop, k) => { q.psnr += Math.min(PSNR_CAP_DB, psnr(crop, gt[k])); q.ssim += ssim(crop, gt[k]); });
      embeddings.get(name)!.push(...(await deps.recognizer.embed(crops.map((c) => recognizerChipFromCrop(c, deps.recognizer)))));
    }
    options.onProgress?.('evaluate', start + indices.length, images.length);
  }

  // Verification: both images of a pair under the same condition, as in the paper.
  const indexOf = new Map(keys.map((k, i) => [k, i]));
  const folds = options.useFileFolds ? pairs.map((p) => p.fold) : interleavedFolds(pairs.map((p) => p.same));
  const accuracy: Record<string, MeanStd> = {};
  const auc: Record<string, number> = {};
  for (const name of conditionNames) {
    const vectors = embeddings.get(name)!;
    const scored = pairs.map((p, j) => ({
      score: cosineSimilarity(vectors[indexOf.get(imageKey(p.a))!], vectors[indexOf.get(imageKey(p.b))!]),
      same: p.same,
      fold: folds[j],
    }));
    const { mean, std } = crossValidatedAccuracy(scored);
    accuracy[name] = { mean, std };
    auc[name] = rocAuc(scored);
  }
  const n = images.length;
  return {
    n_pairs: pairs.length,
    n_images: n,
    seed,
    detection: { detector: deps.detector.id, found: found.length, fallback: fallbackImages.length, fallbackImages },
    psnr: Object.fromEntries([...quality].map(([name, q]) => [name, q.psnr / n])),
    ssim: Object.fromEntries([...quality].map(([name, q]) => [name, q.ssim / n])),
    accuracy: { [deps.recognizer.id]: accuracy },
    auc: { [deps.recognizer.id]: auc },
  };
}

const pct = (x: number) => (100 * x).toFixed(2);

/** results.md: the paper's Tables II and III for this run. */
export function resultsMarkdown(result: LfwEvalResult, command: string, models: Record<string, string>): string {
  const lines = [
    '# LFW evaluation',
    '',
    `\`${command}\``,
    '',
    `${result.n_pairs} pairs, ${result.n_images} images, hole seed ${result.seed}. ` +
      `Alignment: ${result.detection.detector} found ${result.detection.found} faces; ${result.detection.fallback} image(s) aligned at the mean position.`,
    '',
    '## Table II: inpainting quality against GT (128×128 RGB, 48×48 hole)',
    '',
    '| Condition | PSNR (dB) | SSIM |',
    '|---|---|---|',
    ...Object.keys(result.psnr).map((name) => `| ${name} | ${result.psnr[name].toFixed(2)} | ${result.ssim[name].toFixed(4)} |`),
    '',
    '## Table III: verification accuracy, 10-fold (%, mean ± std) and ROC AUC',
    '',
  ];
  for (const [recognizer, byCondition] of Object.entries(result.accuracy)) {
    lines.push(`### ${recognizer}`, '', '| Condition | Accuracy | AUC |', '|---|---|---|');
    for (const [name, { mean, std }] of Object.entries(byCondition))
      lines.push(`| ${name} | ${pct(mean)} ± ${pct(std)} | ${result.auc[recognizer][name].toFixed(4)} |`);
    lines.push('');
  }
  if (Object.keys(models).length > 0) {
    lines.push('## Models', '', '| Model | SHA-256 |', '|---|---|', ...Object.entries(models).map(([name, digest]) => `| ${name} | \`${digest}\` |`), '');
  }
  return lines.join('\n');
}
