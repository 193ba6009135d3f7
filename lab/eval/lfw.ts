// The LFW evaluation (paper §IV): every image aligned to the 128×128 inpainting crop,
// occluded by its seeded 48×48 white block, restored by each condition, then scored for image
// quality (PSNR/SSIM against GT) and face verification (10-fold accuracy, AUC) by each recognizer.
// Per-image results go through a cache, so a re-run computes only what is new.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Similarity } from '../../src/align/similarity.ts';
import { INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { alignToTemplate } from '../../src/align/warp.ts';
import { detectWithBorder, pickCentralFace } from '../dataset/align.ts';
import type { Inpainter } from '../../src/models/types.ts';
import type { Detector } from '../../src/models/types.ts';
import type { Point, RgbImage } from '../../src/types.ts';
import { cacheKeys, MemoryEvalCache, type EvalCache, type Quality } from './cache.ts';
import { EVAL_HOLE_SIZE, seededHole, whiteOut } from './holes.ts';
import { psnr, ssim } from './metrics.ts';
import { lfwImagePath, pairImages, type LfwImage, type LfwPair } from './pairs.ts';
import { cutChip, type EvalRecognizer } from './recognizers/types.ts';
import { teleaInpaint } from './telea.ts';
import { crossValidatedAccuracy, interleavedFolds, rocAuc } from './verification.ts';

/** A way of showing the face: GT (clean), OCC (the white block) or a way of filling the hole. */
export interface Condition {
  name: string;
  /** Names the code or weights behind it (a digest): the cache keys on it, so a new model is recomputed. */
  cacheId: string;
  restore(occluded: RgbImage[], masks: Uint8Array[], gt: RgbImage[]): Promise<RgbImage[]>;
}

const digest = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

export const GT_CONDITION: Condition = { name: 'GT', cacheId: 'GT', restore: async (_occluded, _masks, gt) => gt };
/** GT is the reference: no hole, no quality row, one embedding for every seed. Known by its cache id (wrappers keep it). */
const isGt = (c: Condition) => c.cacheId === GT_CONDITION.cacheId;
export const OCC_CONDITION: Condition = { name: 'OCC', cacheId: 'OCC', restore: async (occluded) => occluded };
export const TELEA_CONDITION: Condition = {
  name: 'Telea',
  // The implementation's own source: editing it invalidates its cached rows.
  cacheId: `Telea-${digest(readFileSync(new URL('./telea.ts', import.meta.url))).slice(0, 12)}`,
  restore: async (occluded, masks) => occluded.map((crop, i) => teleaInpaint(crop, masks[i])),
};

export function inpainterCondition(name: string, inpainter: Inpainter): Condition {
  return { name, cacheId: `${name}-${inpainter.version}`, restore: (occluded, masks) => inpainter.inpaint(occluded, masks) };
}

export interface LfwEvalOptions {
  lfwDir: string;
  pairs: LfwPair[];
  /** Table II's images when not those of the pairs (--all: every image of the folder). */
  qualityImages?: LfwImage[];
  /** Keep the file's folds (View 2, all pairs); otherwise pairs are dealt into 10 folds. */
  useFileFolds: boolean;
  seed: number;
  /** Images decoded, aligned, restored and embedded per step. */
  batchSize?: number;
  decode(bytes: Uint8Array): Promise<RgbImage>;
  onProgress?(stage: 'landmarks' | 'evaluate', done: number, total: number): void;
  /** How many faces the Fig. 4 montage shows (0: none). */
  montageFaces?: number;
}

export interface LfwEvalDeps {
  detector: Detector;
  recognizers: EvalRecognizer[];
  /** In the order of the tables, e.g. GT, OCC, Telea, each model. */
  conditions: Condition[];
  cache?: EvalCache;
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
  /** Images Table II averages over (those of the pairs, or the whole folder with --all). */
  n_quality_images: number;
  seed: number;
  detection: { detector: string; found: number; fallback: number; fallbackImages: string[] };
  /** Mean over the images, against GT (GT itself left out: its PSNR is infinite); PSNR capped at PSNR_CAP_DB per image. */
  psnr: Record<string, number>;
  ssim: Record<string, number>;
  accuracy: Record<string, Record<string, MeanStd>>;
  auc: Record<string, Record<string, number>>;
  recognizers: Record<string, { version: string; dims: number; chip: string; description: string }>;
  /** What this run computed rather than took from the cache. */
  computed: { landmarks: number; quality: number; embeddings: number };
}

/** What the figures need beyond the numbers. */
export interface LfwEvalFigures {
  /** Fig. 4: per face, its name and one crop per condition (in the conditions' order). */
  montage: { image: string; crops: RgbImage[] }[];
  /** Fig. 7 input: per recognizer, per condition, the embedding of each evaluated image (order of `images`). */
  embeddings: Record<string, Record<string, Float32Array[]>>;
  images: LfwImage[];
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

function meanLandmarks(sets: readonly Point[][]): Point[] {
  return sets[0].map((_, k) => ({
    x: sets.reduce((s, l) => s + l[k].x, 0) / sets.length,
    y: sets.reduce((s, l) => s + l[k].y, 0) / sets.length,
  }));
}

/** The same images once each, in first-seen order. */
function distinctImages(lists: readonly LfwImage[][]): LfwImage[] {
  const seen = new Map<string, LfwImage>();
  for (const list of lists) for (const image of list) if (!seen.has(imageKey(image))) seen.set(imageKey(image), image);
  return [...seen.values()];
}

/** One image as the evaluation sees it. */
interface Face {
  image: LfwImage;
  key: string;
  /** Image bytes and landmarks: what its crop, and so every cached value of it, depends on. */
  digest: string;
  landmarks: Point[];
  inPairs: boolean;
  inQuality: boolean;
}

/** The crops of one batch: GT, its hole and the transform from the photo. */
interface Prepared {
  photo: RgbImage;
  gt: RgbImage;
  mask: Uint8Array;
  photoToCrop: Similarity;
}

export async function runLfwEval(options: LfwEvalOptions, deps: LfwEvalDeps): Promise<{ result: LfwEvalResult; figures: LfwEvalFigures }> {
  const { pairs, seed } = options;
  const batchSize = options.batchSize ?? 16;
  const cache = deps.cache ?? new MemoryEvalCache();
  const computed = { landmarks: 0, quality: 0, embeddings: 0 };
  const pairSet = pairImages(pairs);
  const qualitySet = options.qualityImages ?? pairSet;
  const images = distinctImages([pairSet, qualitySet]);
  const inPairs = new Set(pairSet.map(imageKey));
  const inQuality = new Set(qualitySet.map(imageKey));
  const read = (image: LfwImage) => readFile(lfwImagePath(options.lfwDir, image));

  // Pass 1: landmarks. LFW's images are centred by its own detector, so an image where ours finds
  // no face is aligned with the mean landmarks of those where it does (counted and listed).
  const landmarks: (Point[] | null)[] = new Array(images.length);
  const imageDigests: string[] = new Array(images.length);
  options.onProgress?.('landmarks', 0, images.length);
  // A batch at a time, concurrently: the detector's worker pool runs several images at once.
  for (let start = 0; start < images.length; start += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, images.length - start) }, (_, k) => start + k);
    await Promise.all(
      indices.map(async (i) => {
        const bytes = await read(images[i]);
        imageDigests[i] = digest(bytes);
        const key = cacheKeys.landmarks(deps.detector.id, imageKey(images[i]), imageDigests[i]);
        let found = cache.getLandmarks(key);
        if (found === undefined) {
          const photo = await options.decode(bytes);
          found = pickCentralFace(await detectWithBorder(deps.detector, photo), photo.width, photo.height)?.landmarks ?? null;
          cache.putLandmarks(key, found);
          computed.landmarks++;
        }
        landmarks[i] = found;
      }),
    );
    options.onProgress?.('landmarks', start + indices.length, images.length);
  }
  const detected = landmarks.filter((l): l is Point[] => l !== null);
  if (detected.length === 0) throw new Error(`${deps.detector.id} found no face in any of the ${images.length} images: no alignment to fall back on`);
  const centred = meanLandmarks(detected);
  const faces: Face[] = images.map((image, i) => {
    const used = landmarks[i] ?? centred;
    const key = imageKey(image);
    const rounded = used.map((p) => `${p.x.toFixed(3)},${p.y.toFixed(3)}`).join(';');
    return { image, key, digest: digest(`${imageDigests[i]}|${rounded}`).slice(0, 24), landmarks: used, inPairs: inPairs.has(key), inQuality: inQuality.has(key) };
  });

  // Everything the crops depend on besides the image: the detector, the crop and the hole.
  const setup = `${deps.detector.id}|${INPAINT_TEMPLATE.name}|hole${EVAL_HOLE_SIZE}`;
  const qualityKey = (c: Condition, f: Face) => cacheKeys.quality(setup, c.cacheId, f.key, f.digest, seed);
  // GT does not depend on the hole: its embeddings are shared by every seed.
  const embeddingKey = (r: EvalRecognizer, c: Condition, f: Face) =>
    cacheKeys.embedding(`${r.id}-${r.version}`, setup, c.cacheId, f.key, f.digest, isGt(c) ? '-' : seed);
  const needsQuality = (c: Condition, f: Face) => !isGt(c) && f.inQuality && cache.getQuality(qualityKey(c, f)) === undefined;
  const needsEmbedding = (r: EvalRecognizer, c: Condition, f: Face) => f.inPairs && cache.getEmbedding(embeddingKey(r, c, f)) === undefined;

  const prepare = async (face: Face): Promise<Prepared> => {
    const photo = await options.decode(await read(face.image));
    const { crop, transform } = alignToTemplate(photo, face.landmarks, INPAINT_TEMPLATE);
    return { photo, gt: crop, mask: seededHole(face.key, seed, INPAINT_TEMPLATE.size), photoToCrop: transform };
  };
  const restoreAll = async (condition: Condition, batch: Prepared[]): Promise<RgbImage[]> => {
    const out = await condition.restore(batch.map((p) => whiteOut(p.gt, p.mask)), batch.map((p) => p.mask), batch.map((p) => p.gt));
    if (out.length !== batch.length) throw new Error(`condition ${condition.name} returned ${out.length} images for ${batch.length}`);
    return out;
  };

  // Pass 2: only the (condition, image) cells some number is missing for are restored, and only
  // the missing embeddings computed. Images with nothing missing are not even decoded.
  options.onProgress?.('evaluate', 0, faces.length);
  for (let start = 0; start < faces.length; start += batchSize) {
    const batch = faces.slice(start, start + batchSize);
    const prepared = new Map<Face, Prepared>();
    for (const condition of deps.conditions) {
      const todo = batch.filter((f) => needsQuality(condition, f) || deps.recognizers.some((r) => needsEmbedding(r, condition, f)));
      if (todo.length === 0) continue;
      for (const f of todo) if (!prepared.has(f)) prepared.set(f, await prepare(f));
      const inputs = todo.map((f) => prepared.get(f)!);
      const restored = await restoreAll(condition, inputs);
      todo.forEach((f, k) => {
        if (!needsQuality(condition, f)) return;
        const gt = inputs[k].gt;
        cache.putQuality(qualityKey(condition, f), { psnr: Math.min(PSNR_CAP_DB, psnr(restored[k], gt)), ssim: ssim(restored[k], gt) });
        computed.quality++;
      });
      await Promise.all(
        deps.recognizers.map(async (recognizer) => {
          const want = todo.map((f, k) => ({ f, k })).filter(({ f }) => needsEmbedding(recognizer, condition, f));
          if (want.length === 0) return;
          const chips = want.map(({ f, k }) => {
            const p = inputs[k];
            const hole = isGt(condition) ? undefined : { crop: restored[k], hole: p.mask, photoToCrop: p.photoToCrop };
            return cutChip(p.photo, f.landmarks, recognizer.chip, hole);
          });
          const vectors = await recognizer.embed(chips);
          if (vectors.length !== chips.length) throw new Error(`recognizer ${recognizer.id} returned ${vectors.length} embeddings for ${chips.length} chips`);
          want.forEach(({ f }, j) => cache.putEmbedding(embeddingKey(recognizer, condition, f), vectors[j]));
          computed.embeddings += want.length;
        }),
      );
    }
    options.onProgress?.('evaluate', start + batch.length, faces.length);
  }

  // Table II from the cache.
  const qualityFaces = faces.filter((f) => f.inQuality);
  const psnrs: Record<string, number> = {}, ssims: Record<string, number> = {};
  for (const condition of deps.conditions) {
    if (isGt(condition)) continue;
    const values = qualityFaces.map((f) => cache.getQuality(qualityKey(condition, f)) as Quality);
    psnrs[condition.name] = values.reduce((s, q) => s + q.psnr, 0) / values.length;
    ssims[condition.name] = values.reduce((s, q) => s + q.ssim, 0) / values.length;
  }

  // Table III: both images of a pair under the same condition, as in the paper.
  const pairFaces = faces.filter((f) => f.inPairs);
  const indexOf = new Map(pairFaces.map((f, i) => [f.key, i]));
  const folds = options.useFileFolds ? pairs.map((p) => p.fold) : interleavedFolds(pairs.map((p) => p.same));
  const accuracy: LfwEvalResult['accuracy'] = {}, auc: LfwEvalResult['auc'] = {};
  const embeddings: LfwEvalFigures['embeddings'] = {};
  for (const recognizer of deps.recognizers) {
    accuracy[recognizer.id] = {};
    auc[recognizer.id] = {};
    embeddings[recognizer.id] = {};
    for (const condition of deps.conditions) {
      const vectors = pairFaces.map((f) => cache.getEmbedding(embeddingKey(recognizer, condition, f))!);
      embeddings[recognizer.id][condition.name] = vectors;
      const scored = pairs.map((p, j) => ({
        score: cosineSimilarity(vectors[indexOf.get(imageKey(p.a))!], vectors[indexOf.get(imageKey(p.b))!]),
        same: p.same,
        fold: folds[j],
      }));
      const { mean, std } = crossValidatedAccuracy(scored);
      accuracy[recognizer.id][condition.name] = { mean, std };
      auc[recognizer.id][condition.name] = rocAuc(scored);
    }
  }

  // Fig. 4: a few faces spread over the pairs, every condition (recomputed: a handful of images).
  const montage: LfwEvalFigures['montage'] = [];
  const shown = Math.min(options.montageFaces ?? 0, pairFaces.length);
  if (shown > 0) {
    const picks = Array.from({ length: shown }, (_, k) => pairFaces[Math.floor((k * pairFaces.length) / shown)]);
    const inputs = await Promise.all(picks.map(prepare));
    const rows = picks.map((f) => ({ image: f.key, crops: [] as RgbImage[] }));
    for (const condition of deps.conditions) (await restoreAll(condition, inputs)).forEach((crop, k) => rows[k].crops.push(crop));
    montage.push(...rows);
  }

  const fallbackImages = faces.filter((_, i) => landmarks[i] === null).map((f) => f.key);
  const result: LfwEvalResult = {
    n_pairs: pairs.length,
    n_images: pairFaces.length,
    n_quality_images: qualityFaces.length,
    seed,
    detection: { detector: deps.detector.id, found: detected.length, fallback: fallbackImages.length, fallbackImages },
    psnr: psnrs,
    ssim: ssims,
    accuracy,
    auc,
    recognizers: Object.fromEntries(
      deps.recognizers.map((r) => [r.id, { version: r.version, dims: r.dims, chip: r.chip.name, description: r.description }]),
    ),
    computed,
  };
  return { result, figures: { montage, embeddings, images: pairFaces.map((f) => f.image) } };
}
