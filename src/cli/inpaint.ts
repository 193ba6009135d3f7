// `unmask inpaint`: one photo through detect → align → inpaint, the repaired face pasted back.
// The hole is given (a mask image or a box), or found by the occlusion segmenter.
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import sharp, { type OutputInfo } from 'sharp';
import { invertSimilarity } from '../align/similarity.ts';
import { INPAINT_TEMPLATE } from '../align/templates.ts';
import { alignToTemplate } from '../align/warp.ts';
import { ConfigError, type Config } from '../config.ts';
import { decodeImage } from '../gallery/enroll.ts';
import { GalleryError } from '../gallery/errors.ts';
import { boxHole, holeArea, holeFromMaskImage, MASK_THRESHOLD, warpHole } from '../repair/hole.ts';
import { ModelError } from '../models/onnx-model.ts';
import { DEFAULT_INPAINT_MODEL } from '../repair/idgan.ts';
import { HOW_TO_GET_A_SEGMENTER } from '../repair/segmenter.ts';
import { findOcclusion as occlusionOf, holeInFrame, pasteHole } from '../repair/occlusion.ts';
import type { Detector, Inpainter, Landmarker, OcclusionSegmenter } from '../models/types.ts';
import type { Box, DetectedFace, Point, RgbImage } from '../types.ts';
import { detectInPhoto } from '../detect/photo.ts';
import { configFrom, fraction, wholeNumber } from './options.ts';

export interface InpaintCliModels {
  /** Enrollment's photo detector: the landmarks decide the crop. */
  enrollDetector: Detector;
  /** The landmark model that aligns the segmenter's crop (config occlusion.landmarks: faceplugin). */
  maskLandmarker: Landmarker;
  close(): Promise<void>;
}

export interface InpaintCliDeps {
  /** The real models (the model registry) by default; tests pass fakes. */
  loadModels?: (config: Config) => Promise<InpaintCliModels>;
  loadInpainter?: (config: Config) => Promise<Inpainter>;
  loadSegmenter?: (config: Config) => Promise<OcclusionSegmenter>;
}

interface InpaintFlags {
  out: string;
  mask?: string;
  box?: Box;
  face?: number;
  model: string;
  occlusionModel?: string;
  saveMask?: string;
  minConfidence: number;
  config?: string;
}

/** A mistake in what the user asked for, or a photo the command cannot use: one message, exit 1. */
export class InpaintCliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InpaintCliError';
  }
}

const OUTPUT_FORMATS: Record<string, 'png' | 'jpeg' | 'webp' | 'tiff'> = {
  '.png': 'png',
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.webp': 'webp',
  '.tif': 'tiff',
  '.tiff': 'tiff',
};

async function loadRealModels(config: Config): Promise<InpaintCliModels> {
  const { loadModels } = await import('../models/registry.ts');
  return loadModels(config, 1); // one photo: one worker starts fastest
}

export function parseBox(value: string): Box {
  const parts = value.split(',').map((s) => s.trim());
  const numbers = parts.map(Number);
  if (parts.length !== 4 || parts.some((s) => s === '') || numbers.some((n) => !Number.isFinite(n)))
    throw new InvalidArgumentError('expected x,y,w,h in photo pixels, e.g. 120,80,60,40');
  const [x, y, width, height] = numbers;
  if (!(width > 0 && height > 0)) throw new InvalidArgumentError('the box needs a width and a height above 0');
  return { x, y, width, height };
}



export function registerInpaintCommand(program: Command, deps: InpaintCliDeps = {}): void {
  const loadModels = deps.loadModels ?? loadRealModels;
  const loadInpainter = deps.loadInpainter ?? (async (config: Config) => (await import('../models/registry.ts')).openInpainter(config));
  const loadSegmenter = deps.loadSegmenter ?? (async (config: Config) => (await import('../models/registry.ts')).openSegmenter(config));
  program
    .command('inpaint')
    .description(
      'repair the occluded part of a face: detect the face, align it to the 128×128 inpainting crop, fill the hole ' +
        'with the ID-GAN generator and paste the repaired pixels back into the photo (only the hole changes)',
    )
    .argument('<image>', 'photo (JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIF)')
    .requiredOption('--out <file>', 'where to write the repaired photo (.png, .jpg, .webp or .tif)')
    .option('--mask <file>', `image of the photo's size, white (grey ≥ ${MASK_THRESHOLD}) where the hole is`)
    .option('--box <x,y,w,h>', 'the hole as a box in photo pixels', parseBox)
    .option('--occlusion-model <file>', 'without --mask or --box, the occlusion segmenter that finds the hole (default: occlusion.model of the config)')
    .option('--save-mask <file>', 'also write the hole (found or given) as a PNG of the photo\'s size, white on the hole')
    .option('--face <n>', 'which face when the photo shows several, numbered from 0 left to right', wholeNumber)
    .option('--model <file>', 'the ONNX generator (training/export_onnx.py)', DEFAULT_INPAINT_MODEL)
    .option('--min-confidence <f>', 'detector confidence a face needs', fraction, 0.5)
    .option('--config <file>', 'config file (YAML) for the model workers and photo size limits')
    .action((image: string, flags: InpaintFlags) => reportingErrors(() => inpaintCommand(image, flags, { loadModels, loadInpainter, loadSegmenter })));
}

async function reportingErrors(command: () => Promise<void>): Promise<void> {
  try {
    await command();
  } catch (err) {
    const userCanFix =
      err instanceof InpaintCliError || err instanceof ModelError || err instanceof ConfigError || err instanceof GalleryError;
    if (!userCanFix) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = 1;
  }
}

async function inpaintCommand(imagePath: string, flags: InpaintFlags, load: Required<InpaintCliDeps>): Promise<void> {
  // Everything that can be checked without the models first: they take seconds to start.
  const format = OUTPUT_FORMATS[extname(flags.out).toLowerCase()];
  if (!format) throw new InpaintCliError(`--out ${flags.out}: the name must end in ${Object.keys(OUTPUT_FORMATS).join(', ')} (it picks the format)`);
  if (flags.saveMask !== undefined && extname(flags.saveMask).toLowerCase() !== '.png')
    throw new InpaintCliError(`--save-mask ${flags.saveMask}: the mask is written as PNG, the name must end in .png`);
  if (flags.mask !== undefined && flags.box !== undefined) throw new InpaintCliError('give either --mask or --box, not both');
  const base = configFrom(flags.config);
  const findHole = flags.mask === undefined && flags.box === undefined;
  const occlusionModel = flags.occlusionModel ?? base.occlusion.model;
  // The flags name the files; the rest of each model's settings (provider, threshold) come from the config.
  const config: Config = { ...base, occlusion: { ...base.occlusion, model: occlusionModel }, inpaint: { ...base.inpaint, model: flags.model } };
  if (findHole && !existsSync(occlusionModel))
    throw new InpaintCliError(
      `say where the hole is: --mask MASK (an image of the photo, white on the hole) or --box x,y,w,h; ` +
        `without them the occlusion segmenter finds it, but there is no occlusion model at ${occlusionModel} (${HOW_TO_GET_A_SEGMENTER})`,
    );
  const photo = await decodeImage(await readInput(imagePath, 'photo', config.gallery.maxImageBytes), config.gallery.maxImagePixels);
  let photoHole: Uint8Array | undefined;
  if (!findHole) {
    photoHole = flags.mask !== undefined ? await readMaskHole(flags.mask, photo, config) : boxHole(flags.box!, photo.width, photo.height);
    if (!holeArea(photoHole))
      throw new InpaintCliError(
        flags.mask !== undefined
          ? `the mask ${flags.mask} marks no pixel as hole (the hole is white, grey ≥ ${MASK_THRESHOLD})`
          : `the box lies outside the ${photo.width}×${photo.height} photo`,
      );
  }

  const inpainter = await load.loadInpainter(config);
  try {
    const { detected, maskLandmarks } = await findFace(photo, imagePath, flags, config, load.loadModels, findHole && config.occlusion.landmarks === 'faceplugin');
    // The hole is found as the service finds it: on a crop aligned on occlusion.landmarks.
    const face = maskLandmarks ? { ...detected, landmarks: maskLandmarks } : detected;
    if (!photoHole) {
      const found = await findOcclusion(photo, face, config, load.loadSegmenter);
      photoHole = found.hole;
      process.stdout.write(`occlusion found on ${(found.fraction * 100).toFixed(1)} % of the face area (${found.cropPixels} crop pixels at probability ≥ ${config.occlusion.threshold})\n`);
    }
    if (flags.saveMask !== undefined) await saveMask(flags.saveMask, photoHole, photo);
    if (findHole && !holeArea(photoHole)) {
      // A clean face: nothing to repair, and the output is the photo itself.
      await writePhoto(flags.out, format, photo);
      process.stdout.write(`${flags.out}: no occlusion found on the face, the photo is written unchanged\n`);
      return;
    }
    const repair = await repairFace(photo, photoHole, face, inpainter);
    await writePhoto(flags.out, format, repair.image);
    const lines = [
      `${flags.out}: ${repair.pasted} pixels repaired (${repair.cropHolePixels} of the ${inpainter.size}×${inpainter.size} face crop inpainted by ${inpainter.id} ${inpainter.version})`,
    ];
    if (repair.outsideCrop)
      lines.push(`note: ${repair.outsideCrop} pixels of the hole lie outside the face crop; they are left as they were`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await inpainter.close();
  }
}

async function writePhoto(path: string, format: 'png' | 'jpeg' | 'webp' | 'tiff', image: RgbImage): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const encoder = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
  await (format === 'jpeg' ? encoder.jpeg({ quality: 95 }) : encoder.toFormat(format)).toFile(path);
}

/** The hole as a grey PNG of the photo's size: 255 on the hole, 0 elsewhere. */
async function saveMask(path: string, hole: Uint8Array, photo: RgbImage): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const grey = Uint8Array.from(hole, (m) => (m ? 255 : 0));
  await sharp(grey, { raw: { width: photo.width, height: photo.height, channels: 1 } }).png().toFile(path);
}

/**
 * The occlusion segmenter on the face's aligned crop, its mask (thresholded and grown as the service
 * does, config `occlusion`) carried back into the photo's pixels.
 */
export async function findOcclusion(
  photo: RgbImage,
  face: DetectedFace,
  config: Config,
  loadSegmenter: (config: Config) => Promise<OcclusionSegmenter>,
): Promise<{ hole: Uint8Array; fraction: number; cropPixels: number }> {
  const { crop, transform } = alignToTemplate(photo, face.landmarks, INPAINT_TEMPLATE);
  const segmenter = await loadSegmenter(config);
  let probability: Float32Array;
  try {
    if (segmenter.size !== INPAINT_TEMPLATE.size)
      throw new InpaintCliError(`the segmenter takes ${segmenter.size}×${segmenter.size} crops, the inpainting space is ${INPAINT_TEMPLATE.size}×${INPAINT_TEMPLATE.size}`);
    [probability] = await segmenter.segment([crop]);
  } finally {
    await segmenter.close();
  }
  const { mask, fraction } = occlusionOf(probability, transform, face.landmarks, config.occlusion);
  return { hole: holeInFrame(mask, INPAINT_TEMPLATE.size, photo.width, photo.height, transform), fraction, cropPixels: holeArea(mask) };
}

async function readInput(path: string, what: string, maxBytes: number): Promise<Buffer> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error('not a regular file');
    if (info.size > maxBytes) throw new Error(`${info.size} bytes, more than gallery.maxImageBytes (${maxBytes})`);
  } catch (err) {
    throw new InpaintCliError(`cannot read the ${what} ${path}: ${(err as Error).message}`);
  }
  return readFile(path);
}

/** The hole a mask image draws, checked to be drawn on this photo (same size). */
async function readMaskHole(path: string, photo: RgbImage, config: Config): Promise<Uint8Array> {
  const bytes = await readInput(path, 'mask', config.gallery.maxImageBytes);
  let grey: { data: Buffer; info: OutputInfo };
  try {
    grey = await sharp(bytes, { limitInputPixels: config.gallery.maxImagePixels, failOn: 'error' })
      .rotate() // EXIF orientation, as the photo's
      .flatten({ background: '#000000' }) // transparent is not a hole
      .toColourspace('b-w')
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new InpaintCliError(`the mask ${path} is not an image sharp can read: ${(err as Error).message}`);
  }
  const { width, height, channels } = grey.info;
  if (width !== photo.width || height !== photo.height)
    throw new InpaintCliError(`the mask ${path} is ${width}×${height}, the photo ${photo.width}×${photo.height}: draw the mask on the photo itself`);
  if (channels !== 1) throw new InpaintCliError(`the mask ${path} decoded to ${channels} channels, expected one grey channel`);
  return holeFromMaskImage({ width, height, data: new Uint8Array(grey.data.buffer, grey.data.byteOffset, grey.data.byteLength) });
}

/**
 * The face to repair: the only confident one, or the one --face picks (left to right from 0); with
 * `relocate`, its landmarks located again by the mask landmark model on the detector's box.
 */
async function findFace(
  photo: RgbImage,
  imagePath: string,
  flags: InpaintFlags,
  config: Config,
  loadModels: (config: Config) => Promise<InpaintCliModels>,
  relocate: boolean,
): Promise<{ detected: DetectedFace; maskLandmarks?: Point[] }> {
  const models = await loadModels(config);
  try {
    const detected = pickFace(await detectInPhoto(models.enrollDetector, photo), imagePath, flags);
    return { detected, ...(relocate ? { maskLandmarks: await models.maskLandmarker.locate(photo, detected.box) } : {}) };
  } finally {
    await models.close();
  }
}

function pickFace(detected: DetectedFace[], imagePath: string, flags: InpaintFlags): DetectedFace {
  const faces = detected.filter((f) => f.score >= flags.minConfidence).sort((a, b) => a.box.x - b.box.x);
  const describe = () =>
    faces
      .map((f, i) => {
        const b = f.box;
        return `  face ${i}: ${Math.round(b.width)}×${Math.round(b.height)} px at (${Math.round(b.x)}, ${Math.round(b.y)}), score ${f.score.toFixed(2)}`;
      })
      .join('\n');
  if (!faces.length) {
    const best = detected.length ? `; the best candidate scored ${Math.max(...detected.map((f) => f.score)).toFixed(2)}` : '';
    throw new InpaintCliError(
      `no face found in ${imagePath} at confidence ${flags.minConfidence}${best}: the face must be visible enough to find ` +
        `its landmarks (a hole over the eyes or nose can hide it; try a smaller --min-confidence)`,
    );
  }
  if (flags.face !== undefined) {
    if (flags.face >= faces.length)
      throw new InpaintCliError(`--face ${flags.face}, but ${imagePath} shows ${faces.length} face${faces.length === 1 ? '' : 's'} (numbered from 0):\n${describe()}`);
    return faces[flags.face];
  }
  if (faces.length > 1) throw new InpaintCliError(`${imagePath} shows ${faces.length} faces; say which one with --face N:\n${describe()}`);
  return faces[0];
}

export interface FaceRepair {
  image: RgbImage;
  /** Hole pixels of the aligned crop the inpainter filled. */
  cropHolePixels: number;
  /** Photo pixels that took the inpainted face. */
  pasted: number;
  /** Hole pixels of the photo outside the crop, left as they were. */
  outsideCrop: number;
}

/** Aligns the face, carries the hole into its crop, inpaints it and pastes the hole's pixels back. */
export async function repairFace(photo: RgbImage, photoHole: Uint8Array, face: DetectedFace, inpainter: Inpainter): Promise<FaceRepair> {
  if (inpainter.size !== INPAINT_TEMPLATE.size)
    throw new InpaintCliError(`the inpainter takes ${inpainter.size}×${inpainter.size} crops, the inpainting space is ${INPAINT_TEMPLATE.size}×${INPAINT_TEMPLATE.size}`);
  const { crop, transform } = alignToTemplate(photo, face.landmarks, INPAINT_TEMPLATE);
  const cropHole = warpHole(photoHole, photo.width, photo.height, invertSimilarity(transform), INPAINT_TEMPLATE.size);
  const cropHolePixels = holeArea(cropHole);
  if (!cropHolePixels)
    throw new InpaintCliError('the hole does not reach the face: it covers no pixel of the aligned face crop, there is nothing to inpaint');
  const [inpainted] = await inpainter.inpaint([crop], [cropHole]);
  const pasted = pasteHole(photo, photoHole, inpainted, transform);
  return { image: pasted.image, cropHolePixels, pasted: pasted.pasted, outsideCrop: pasted.outsideCrop };
}
