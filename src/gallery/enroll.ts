// Enrollment: one photo → checked, one face chosen, embedded, stored with what re-embedding needs.
// Every check runs before the single write, so a refused photo leaves the gallery untouched.
import { createHash } from 'node:crypto';
import sharp, { type Sharp } from 'sharp';
import { dlibChipTemplate } from '../align/templates.ts';
import { iou } from '../align/box.ts';
import { alignToTemplate } from '../align/warp.ts';
import { detectInPhoto } from '../detect/photo.ts';
import type { Config } from '../config.ts';
import type { Detector, Recognizer } from '../models/types.ts';
import { stageLogger } from '../observe/log.ts';
import type { Box, DetectedFace, Identity, Point, RgbImage } from '../types.ts';
import { EnrollmentGate } from './admission.ts';
import {
  faceIndexOutOfRange,
  faceTooSmall,
  identityExists,
  identityNotFound,
  imageTooLarge,
  multipleFaces,
  noFace,
  notAnImage,
  type FaceChoice,
} from './errors.ts';
import type { Gallery } from './gallery.ts';
import { validIdentityName, type FaceSource, type IdentityRecord, type NewSample, type SampleRecord } from './store.ts';

type GallerySettings = Config['gallery'];
/** The gallery settings enrollment uses; those after the first four take their config defaults when left out. */
export type EnrollSettings = Pick<GallerySettings, 'maxImageBytes' | 'maxImagePixels' | 'minFaceSize' | 'minConfidence'> &
  Partial<Pick<GallerySettings, 'maxDecodedPixels' | 'enrollConcurrency' | 'enrollQueue' | 'keepFaceSources'>>;

/** The config's defaults of the optional settings (src/config.ts). */
const DEFAULT_SETTINGS = { maxDecodedPixels: 16_000_000, enrollConcurrency: 2, enrollQueue: 8, keepFaceSources: true };

export interface EnrollOptions {
  /** Which face when the photo shows several, numbered from 0 left to right. */
  faceIndex?: number;
  /**
   * Where the face is known to be (an event's face source: the camera's detector found it there):
   * the confident face overlapping this box most is taken, whatever else the photo shows.
   */
  near?: Box;
}

export interface EnrollResult {
  identity: Identity;
  sample: SampleRecord;
  /** The identity already had this photo: nothing was stored, `sample` is the earlier one. */
  duplicate: boolean;
  /** The photo showed several faces and one dominated (no --face given): which was taken, and why. */
  chosen?: DominantChoice;
  /** The same photo was stored for the identity as the other kind (a photo, then "not X"): it was replaced. */
  replaced?: SampleRecord;
}

/** A photo as enrollment sees it (Enroller.examine). */
export interface ExaminedPhoto {
  image: RgbImage;
  face: DetectedFace;
  choice: FaceChoice;
  /** Unit length, by the enroller's recognizer. */
  embedding: Float32Array;
  dominant?: DominantChoice;
}

/** A face taken from a photo of several because it dominates it. */
export interface DominantChoice {
  face: FaceChoice;
  /** Every confident face of the photo, numbered as `--face N` numbers them. */
  faces: FaceChoice[];
  reason: string;
}

/** A face dominates a photo when it is nearest the centre and has this many times the area of any other… */
export const DOMINANT_AREA_RATIO = 2;
/** …or when the others reach into this share of the photo's width or height from its border, and it does not. */
export const EDGE_BAND = 0.1;

export type ReembedProgress = (done: number, total: number) => void;

export interface ReembedReport {
  /** Samples that were embedded by another recognizer or version. */
  total: number;
  reembedded: number;
  /** Samples whose face source could not be read; they stay out of the index until fixed or removed. */
  failed: number[];
}

/** How much a face found in a face source must overlap where the camera saw it. */
const NEAR_IOU = 0.3;
/** Formats that are photos; sharp also reads SVG, PDF and others, which have no business here. */
const PHOTO_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif']);
/** Aligned face as shown to users (API thumbnail): the whole face with some forehead and chin. */
export const THUMBNAIL_TEMPLATE = dlibChipTemplate('thumbnail-112-p0.35', 112, 0.35);
/**
 * The face source keeps this much of the box's side on each side of it, so that any recognizer's
 * template (tighter or looser than today's) can later be cut from it without the photo.
 */
const FACE_SOURCE_MARGIN = 0.6;
const FACE_SOURCE_MAX_SIDE = 400;
const FACE_SOURCE_QUALITY = 92;
const THUMBNAIL_QUALITY = 85;
const REEMBED_BATCH = 16;

const log = stageLogger('gallery');

export class Enroller {
  readonly settings: EnrollSettings & typeof DEFAULT_SETTINGS;
  /** Decodes and enrollments at once, and those waiting (gallery.enrollConcurrency, enrollQueue). */
  readonly gate: EnrollmentGate;
  private readonly store: Gallery;
  private readonly detector: Detector;
  private readonly recognizer: Recognizer;
  private readonly secondary?: Recognizer;

  /**
   * `secondary`: a recognizer whose embeddings sit beside the main ones (the upper-face view); made at
   * enrollment when no face source is kept to make them from later.
   */
  constructor(deps: { store: Gallery; detector: Detector; recognizer: Recognizer; settings: EnrollSettings; secondary?: Recognizer }) {
    this.store = deps.store;
    this.detector = deps.detector;
    this.recognizer = deps.recognizer;
    this.secondary = deps.secondary;
    this.settings = { ...DEFAULT_SETTINGS, ...deps.settings };
    this.gate = new EnrollmentGate(this.settings.enrollConcurrency, this.settings.enrollQueue);
  }

  async enroll(identityId: number, bytes: Uint8Array, options: EnrollOptions = {}): Promise<EnrollResult> {
    const record = await this.store.getIdentity(identityId);
    if (!record) throw identityNotFound(identityId);
    const identity = { id: record.id, name: record.name };
    const imageSha256 = this.checkedHash(bytes);
    const earlier = await this.store.findSampleByHash(identityId, imageSha256);
    if (earlier && !earlier.negative) return { identity, sample: earlier, duplicate: true };

    return this.gate.run(async () => {
      const { fields, dominant } = await this.prepare(bytes, imageSha256, options);
      const { sample, duplicate, replaced } = await this.store.addSample({ ...fields, identityId });
      return { identity, sample, duplicate, ...(dominant ? { chosen: dominant } : {}), ...(replaced ? { replaced } : {}) };
    });
  }

  /**
   * Creates the identity with this photo as its first, in one transaction (GalleryStore.
   * createIdentityWithSample): a refused photo or a crash leaves no identity without photos.
   */
  async enrollNew(name: unknown, bytes: Uint8Array, options: EnrollOptions = {}): Promise<EnrollResult & { identity: IdentityRecord }> {
    const canonical = validIdentityName(name);
    const existing = await this.store.findIdentityByName(canonical);
    if (existing) throw identityExists(existing);
    const imageSha256 = this.checkedHash(bytes);
    return this.gate.run(async () => {
      const { fields, dominant } = await this.prepare(bytes, imageSha256, options);
      const { identity, sample } = await this.store.createIdentityWithSample(canonical, fields);
      return { identity, sample, duplicate: false, ...(dominant ? { chosen: dominant } : {}) };
    });
  }

  /** The photo's SHA-256, once its size is known to be allowed. */
  private checkedHash(bytes: Uint8Array): string {
    const { maxImageBytes } = this.settings;
    if (bytes.length > maxImageBytes)
      throw imageTooLarge(`${bytes.length} bytes, more than gallery.maxImageBytes (${maxImageBytes})`);
    return createHash('sha256').update(bytes).digest('hex');
  }

  /** Everything a sample stores of a photo, every check passed; nothing stored yet. */
  private async prepare(bytes: Uint8Array, imageSha256: string, options: EnrollOptions): Promise<{ fields: Omit<NewSample, 'identityId'>; dominant?: DominantChoice }> {
    const { image, face, embedding, dominant } = await this.examine(bytes, options);
    const thumbnailJpeg = await toJpeg(alignToTemplate(image, face.landmarks, THUMBNAIL_TEMPLATE).crop, THUMBNAIL_QUALITY);
    const kept = await this.keptOf(image, face.landmarks, () => faceSourceOf(image, face));
    return {
      fields: {
        imageSha256,
        box: face.box,
        score: face.score,
        recognizerId: this.recognizer.id,
        recognizerVersion: this.recognizer.version,
        embedding,
        thumbnailJpeg,
        ...kept,
      },
      ...(dominant ? { dominant } : {}),
    };
  }

  /**
   * What a sample keeps beyond its main embedding: the face source (gallery.keepFaceSources), else the
   * secondary recognizer's embedding made now, since nothing is left to make it from later.
   */
  private async keptOf(image: RgbImage, landmarks: Point[], source: () => Promise<FaceSource>): Promise<Pick<NewSample, 'source' | 'secondaryEmbeddings'>> {
    if (this.settings.keepFaceSources) {
      const { jpeg, landmarks: inSource } = await source();
      return { source: { jpeg, landmarks: inSource } };
    }
    if (!this.secondary) return {};
    const [embedding] = await embedCrops(this.secondary, [alignToTemplate(image, landmarks, this.secondary.template).crop]);
    return { secondaryEmbeddings: [{ recognizerId: this.secondary.id, recognizerVersion: this.secondary.version, embedding }] };
  }

  /**
   * A photo as enrollment sees it, nothing stored: decoded, its face chosen and checked, embedded.
   * Throws the GalleryError a refusal gives. (Tools measure acceptance and thresholds with it.)
   */
  async examine(bytes: Uint8Array, { faceIndex, near }: EnrollOptions = {}): Promise<ExaminedPhoto> {
    const image = await decodeImage(bytes, this.settings.maxImagePixels, this.settings.maxDecodedPixels);
    const detected = await this.detectFaces(image);
    const { face, choice, dominant } = near ? this.faceNear(detected, near) : this.chooseFace(detected, faceIndex, image);
    if (face.box.width < this.settings.minFaceSize) throw faceTooSmall(choice, this.settings.minFaceSize);
    const [embedding] = await embedCrops(this.recognizer, [alignToTemplate(image, face.landmarks, this.recognizer.template).crop]);
    return { image, face, choice, embedding, ...(dominant ? { dominant } : {}) };
  }

  /**
   * Stores a negative sample of the identity ("this is not X"): a face the camera's detector found,
   * as its face source and the landmarks it was aligned on there. No detection runs again (a face
   * behind a mask is still what was wrongly named); it is embedded as a gallery photo is.
   */
  async addNegative(identityId: number, source: FaceSource & { box: Box; score: number }): Promise<EnrollResult> {
    const record = await this.store.getIdentity(identityId);
    if (!record) throw identityNotFound(identityId);
    const identity = { id: record.id, name: record.name };
    if (source.landmarks.length !== 68) throw noFace(`the face source has ${source.landmarks.length} landmarks, 68 are needed`);
    const imageSha256 = createHash('sha256').update(source.jpeg).digest('hex');
    return this.gate.run(async () => {
      const image = await decodeImage(source.jpeg, this.settings.maxImagePixels, this.settings.maxDecodedPixels);
      const [embedding] = await embedCrops(this.recognizer, [alignToTemplate(image, source.landmarks, this.recognizer.template).crop]);
      const thumbnailJpeg = await toJpeg(alignToTemplate(image, source.landmarks, THUMBNAIL_TEMPLATE).crop, THUMBNAIL_QUALITY);
      const kept = await this.keptOf(image, source.landmarks, async () => source);
      const { sample, duplicate, replaced } = await this.store.addSample({
        identityId,
        imageSha256,
        box: source.box,
        score: source.score,
        recognizerId: this.recognizer.id,
        recognizerVersion: this.recognizer.version,
        embedding,
        thumbnailJpeg,
        ...kept,
        negative: true,
      });
      return { identity, sample, duplicate, ...(replaced ? { replaced } : {}) };
    });
  }

  /** The confident face that overlaps `near` most (at least SAME_FACE_IOU_NEAR), numbered as chooseFace numbers them. */
  private faceNear({ confident }: { confident: DetectedFace[]; rejected: DetectedFace[] }, near: Box): { face: DetectedFace; choice: FaceChoice; dominant?: DominantChoice } {
    let best = -1, bestIou = 0;
    confident.forEach((f, i) => {
      const overlap = iou(f.box, near);
      if (overlap > bestIou) (best = i), (bestIou = overlap);
    });
    if (best < 0 || bestIou < NEAR_IOU)
      throw noFace(
        confident.length
          ? `the enrollment detector found ${confident.length} face${confident.length === 1 ? '' : 's'}, none where the camera saw it`
          : 'the enrollment detector finds no confident face where the camera saw it (a covered or turned face is not enrolled)',
      );
    return { face: confident[best], choice: { index: best, box: confident[best].box, score: confident[best].score } };
  }

  /** Faces at or above the enrollment confidence, left to right, in the photo's pixels. */
  private async detectFaces(image: RgbImage): Promise<{ confident: DetectedFace[]; rejected: DetectedFace[] }> {
    const detected = await detectInPhoto(this.detector, image);
    const confident = detected.filter((f) => f.score >= this.settings.minConfidence).sort((a, b) => a.box.x - b.box.x);
    return { confident, rejected: detected.filter((f) => f.score < this.settings.minConfidence) };
  }

  private chooseFace(
    { confident, rejected }: { confident: DetectedFace[]; rejected: DetectedFace[] },
    faceIndex: number | undefined,
    image: RgbImage,
  ): { face: DetectedFace; choice: FaceChoice; dominant?: DominantChoice } {
    if (!confident.length) {
      const best = Math.max(...rejected.map((f) => f.score));
      throw noFace(
        rejected.length
          ? `${rejected.length} candidate${rejected.length === 1 ? '' : 's'} scored below gallery.minConfidence ` +
              `(${this.settings.minConfidence}), the best ${best.toFixed(2)}; use a sharper, frontal, well-lit photo`
          : 'use a photo where the face is frontal, well lit and not covered',
      );
    }
    const choices: FaceChoice[] = confident.map((f, index) => ({ index, box: f.box, score: f.score }));
    let chosen = 0;
    if (faceIndex !== undefined) {
      if (!Number.isInteger(faceIndex) || faceIndex < 0 || faceIndex >= confident.length)
        throw faceIndexOutOfRange(faceIndex, choices);
      chosen = faceIndex;
    } else if (confident.length > 1) {
      const dominant = dominantFace(choices, image.width, image.height);
      if (dominant === undefined) throw multipleFaces(choices);
      const reason =
        `face ${dominant} of ${choices.length} taken: the nearest the centre, and every other is under 1/${DOMINANT_AREA_RATIO} of its ` +
        `area or at the photo's edge (say --face N or ?face=N for another)`;
      return { face: confident[dominant], choice: choices[dominant], dominant: { face: choices[dominant], faces: choices, reason } };
    }
    return { face: confident[chosen], choice: choices[chosen] };
  }
}

/**
 * The index of the face that dominates a photo of several, or undefined when none does: the face
 * nearest the photo's centre, when every other face either shows at most 1/DOMINANT_AREA_RATIO of its
 * area inside the photo or reaches into the photo's outer band (EDGE_BAND of each side) while it does
 * not: a bystander at the edge. A portrait with a stranger at its edge is enrolled (LFW's photos show
 * neighbours' faces at their borders); a group photo is not guessed at.
 */
export function dominantFace(faces: readonly { box: Box }[], width: number, height: number): number | undefined {
  if (faces.length < 2) return faces.length === 1 ? 0 : undefined;
  const visibleArea = (b: Box) =>
    Math.max(0, Math.min(width, b.x + b.width) - Math.max(0, b.x)) * Math.max(0, Math.min(height, b.y + b.height) - Math.max(0, b.y));
  const bx = EDGE_BAND * width, by = EDGE_BAND * height;
  const atEdge = (b: Box) => b.x < bx || b.y < by || b.x + b.width > width - bx || b.y + b.height > height - by;
  const offCentre = (b: Box) => Math.hypot(b.x + b.width / 2 - width / 2, b.y + b.height / 2 - height / 2);
  let central = 0;
  faces.forEach((f, i) => {
    if (offCentre(f.box) < offCentre(faces[central].box)) central = i;
  });
  const main = faces[central].box;
  for (const [i, { box }] of faces.entries()) {
    if (i === central) continue;
    const small = visibleArea(box) * DOMINANT_AREA_RATIO <= visibleArea(main);
    if (!small && !(atEdge(box) && !atEdge(main))) return undefined;
  }
  return central;
}

/**
 * Re-embeds, from their face sources, the samples made by another recognizer or version, so that
 * the whole gallery is comparable with what the current recognizer makes of a live face. A
 * `secondary` recognizer's embeddings are added beside the main ones (the samples never embedded by it).
 */
export async function reembedStaleSamples(
  store: Gallery,
  recognizer: Recognizer,
  onProgress?: ReembedProgress,
  secondary = false,
): Promise<ReembedReport> {
  const staleIds = await store.staleSampleIds(recognizer.id, recognizer.version);
  const report: ReembedReport = { total: staleIds.length, reembedded: 0, failed: [] };
  if (!staleIds.length) return report;
  log.info({ samples: staleIds.length, recognizer: recognizer.id, version: recognizer.version }, 're-embedding gallery samples');
  onProgress?.(0, staleIds.length);
  for (let start = 0; start < staleIds.length; start += REEMBED_BATCH) {
    const batchIds = staleIds.slice(start, start + REEMBED_BATCH);
    const ready: { sampleId: number; crop: RgbImage }[] = [];
    for (const sampleId of batchIds) {
      const source = await store.faceSource(sampleId);
      if (!source) {
        // Removed meanwhile, or enrolled without a face source (gallery.keepFaceSources: false).
        if (await store.getSample(sampleId)) {
          report.failed.push(sampleId);
          log.warn({ sampleId }, 'cannot re-embed a gallery sample: no face source was kept (gallery.keepFaceSources); enroll the photo again');
        }
        continue;
      }
      try {
        const image = await decodeImage(source.jpeg, FACE_SOURCE_MAX_SIDE * FACE_SOURCE_MAX_SIDE);
        ready.push({ sampleId, crop: alignToTemplate(image, source.landmarks, recognizer.template).crop });
      } catch (err) {
        report.failed.push(sampleId);
        log.warn({ sampleId, err }, 'cannot re-embed a gallery sample: its face source is unreadable');
      }
    }
    const embeddings = await embedCrops(recognizer, ready.map((r) => r.crop));
    for (const [i, { sampleId }] of ready.entries())
      if (await store.updateEmbedding(sampleId, recognizer.id, recognizer.version, embeddings[i], secondary)) report.reembedded++;
    onProgress?.(Math.min(start + REEMBED_BATCH, staleIds.length), staleIds.length);
  }
  return report;
}

/** A copy of `embedding` scaled to unit length; an error for the wrong size or a zero/non-finite vector. */
export function l2Normalised(embedding: ArrayLike<number>, dims: number): Float32Array {
  if (embedding.length !== dims) throw new Error(`embedding has ${embedding.length} dimensions, the recognizer makes ${dims}`);
  let sum = 0;
  for (let i = 0; i < dims; i++) sum += embedding[i] * embedding[i];
  const norm = Math.sqrt(sum);
  if (!Number.isFinite(norm) || norm === 0) throw new Error('embedding is zero or not finite: it has no direction to compare');
  const out = new Float32Array(dims);
  for (let i = 0; i < dims; i++) out[i] = embedding[i] / norm;
  return out;
}

async function embedCrops(recognizer: Recognizer, crops: RgbImage[]): Promise<Float32Array[]> {
  if (!crops.length) return [];
  const embeddings = await recognizer.embed(crops);
  if (embeddings.length !== crops.length)
    throw new Error(`recognizer ${recognizer.id} returned ${embeddings.length} embeddings for ${crops.length} crops`);
  return embeddings.map((e) => l2Normalised(e, recognizer.dims));
}

/**
 * Decodes a photo to packed RGB, upright (EXIF orientation applied), transparency flattened onto
 * white. Refuses what is not a photo, and photos over `maxPixels` before decoding them; a photo over
 * `maxDecodedPixels` is decoded shrunk to about that many (JPEG and WebP shrink while they decode), so
 * that no photo costs more memory than that, whatever it claims to be.
 */
export async function decodeImage(bytes: Uint8Array, maxPixels: number, maxDecodedPixels = Infinity): Promise<RgbImage> {
  if (!bytes.length) throw notAnImage('the file is empty');
  let format: string | undefined;
  let width = 0, height = 0, orientation: number | undefined;
  try {
    ({ format, width, height, orientation } = await sharp(bytes).metadata());
  } catch {
    throw notAnImage(`the data is not in a known image format (send JPEG, PNG, WebP, GIF, TIFF, AVIF or HEIF)`);
  }
  if (!format || !PHOTO_FORMATS.has(format))
    throw notAnImage(`${format ?? 'unknown'} is not a photo format (send JPEG, PNG, WebP, GIF, TIFF, AVIF or HEIF)`);
  if (width * height > maxPixels)
    throw imageTooLarge(`${width}×${height} = ${width * height} pixels, more than gallery.maxImagePixels (${maxPixels})`);
  try {
    let pipeline = sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error', sequentialRead: true }).rotate();
    const shrink = decodedSize(width, height, maxDecodedPixels);
    // The size after rotation: EXIF orientations 5–8 turn the photo a quarter.
    if (shrink) pipeline = (orientation ?? 1) >= 5 ? pipeline.resize(shrink.height, shrink.width, { fit: 'fill' }) : pipeline.resize(shrink.width, shrink.height, { fit: 'fill' });
    pipeline = pipeline.flatten({ background: '#ffffff' }).toColourspace('srgb');
    return await toRgb(pipeline);
  } catch (err) {
    throw notAnImage(`the ${format} data cannot be decoded (${(err as Error).message})`);
  }
}

/** The size a photo of width×height is decoded to when it has more than `maxPixels`; undefined when it is decoded as it is. */
export function decodedSize(width: number, height: number, maxPixels: number): { width: number; height: number } | undefined {
  if (width * height <= maxPixels) return undefined;
  const scale = Math.sqrt(maxPixels / (width * height));
  return { width: Math.max(1, Math.floor(width * scale)), height: Math.max(1, Math.floor(height * scale)) };
}

async function toRgb(pipeline: Sharp): Promise<RgbImage> {
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 colour channels, got ${info.channels}`);
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function fromRgb(image: RgbImage): Sharp {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
}

function toJpeg(image: RgbImage, quality: number): Promise<Buffer> {
  return fromRgb(image).jpeg({ quality }).toBuffer();
}

/** The part of the photo a face source keeps: the face and its landmarks, plus a margin, inside the photo. */
export function faceSourceRegion(face: DetectedFace, imageWidth: number, imageHeight: number): Box {
  let x0 = face.box.x, y0 = face.box.y;
  let x1 = face.box.x + face.box.width, y1 = face.box.y + face.box.height;
  for (const p of face.landmarks) {
    x0 = Math.min(x0, p.x); y0 = Math.min(y0, p.y);
    x1 = Math.max(x1, p.x); y1 = Math.max(y1, p.y);
  }
  const margin = Math.max(face.box.width, face.box.height) * FACE_SOURCE_MARGIN;
  const left = Math.min(imageWidth - 1, Math.max(0, Math.floor(x0 - margin)));
  const top = Math.min(imageHeight - 1, Math.max(0, Math.floor(y0 - margin)));
  const right = Math.max(left + 1, Math.min(imageWidth, Math.ceil(x1 + margin)));
  const bottom = Math.max(top + 1, Math.min(imageHeight, Math.ceil(y1 + margin)));
  return { x: left, y: top, width: right - left, height: bottom - top };
}

/**
 * The face with its margin as a JPEG at most FACE_SOURCE_MAX_SIDE px, and the landmarks and box in its
 * pixels: what a gallery sample keeps, and what an event keeps of a camera frame (its "this is X"
 * enrolls these bytes as an upload would be).
 */
export async function faceSourceOf(image: RgbImage, face: DetectedFace): Promise<FaceSource & { box: Box }> {
  const region = faceSourceRegion(face, image.width, image.height);
  const scale = Math.min(1, FACE_SOURCE_MAX_SIDE / Math.max(region.width, region.height));
  const width = Math.max(1, Math.round(region.width * scale));
  const height = Math.max(1, Math.round(region.height * scale));
  const jpeg = await fromRgb(image)
    .extract({ left: region.x, top: region.y, width: region.width, height: region.height })
    .resize(width, height, { fit: 'fill' })
    .jpeg({ quality: FACE_SOURCE_QUALITY })
    .toBuffer();
  const sx = width / region.width, sy = height / region.height;
  const landmarks: Point[] = face.landmarks.map((p) => ({ x: (p.x - region.x) * sx, y: (p.y - region.y) * sy }));
  const box: Box = { x: (face.box.x - region.x) * sx, y: (face.box.y - region.y) * sy, width: face.box.width * sx, height: face.box.height * sy };
  return { jpeg, landmarks, box };
}
