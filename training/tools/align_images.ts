// Aligns every photo of a folder to the 128×128 inpainting crop with the service's own detector and
// aligner (the same steps as `unmask dataset align`), and records each source → crop transform so that
// something drawn on the photo (FASSEG's label images, for training/eval_parser.py) can be warped
// onto the crop the same way.
//
//   npx tsx training/tools/align_images.ts --images DIR --out DIR [--landmarks faceapi|faceplugin]
//
// --landmarks faceplugin: the 68 points from faceplugin's landmark model on the detector's box (as the
// occlusion stage can locate them), instead of face-api's landmark net.
//
// Writes OUT/<stem>.png (the crop) and OUT/alignment.json: { template, size, items: [{ file, crop,
// width, height, score, box, transform: { a, b, tx, ty }, landmarks }], missed: [{ file, reason }] }.
// `box` is the detector's box in the photo (what the service's detect.minFaceSize is checked on).
// `transform` maps source pixel coordinates to crop coordinates (x' = a·x − b·y + tx,
// y' = b·x + a·y + ty) with pixel centres at integer + 0.5 in both, as src/align/warp.ts samples.
import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, parse as parsePath } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { alignToTemplate, landmarksInCrop } from '../../src/align/warp.ts';
import { detectWithBorder, pickCentralFace } from '../../lab/dataset/align.ts';
import { FaceApiDetector } from '../../lab/tfjs/detector.ts';
import { FacepluginLandmarker } from '../../src/detect/faceplugin-landmarks.ts';
import type { RgbImage } from '../../src/types.ts';

const { values } = parseArgs({
  options: {
    images: { type: 'string' },
    out: { type: 'string' },
    'min-confidence': { type: 'string', default: '0.3' },
    landmarks: { type: 'string', default: 'faceapi' },
  },
});
if (!values.images || !values.out) throw new Error('usage: align_images.ts --images DIR --out DIR [--min-confidence 0.3]');
const minConfidence = Number(values['min-confidence']);
if (values.landmarks !== 'faceapi' && values.landmarks !== 'faceplugin') throw new Error(`--landmarks must be faceapi or faceplugin, got ${values.landmarks}`);
if (!(minConfidence > 0 && minConfidence < 1)) throw new Error(`--min-confidence must lie between 0 and 1, got ${values['min-confidence']}`);

async function decode(path: string): Promise<RgbImage> {
  const { data, info } = await sharp(path).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

let files: string[];
try {
  files = readdirSync(values.images).filter((f) => /\.(jpe?g|png|bmp)$/i.test(f)).sort();
} catch (err) {
  throw new Error(`cannot list the photos in ${values.images} (${(err as Error).message})`);
}
if (!files.length) throw new Error(`${values.images} holds no .jpg, .png or .bmp photo`);

const detector = await FaceApiDetector.create({ model: 'ssd', minConfidence, tinyInputSize: 416 });
const landmarker = values.landmarks === 'faceplugin' ? await FacepluginLandmarker.load() : undefined;
mkdirSync(values.out, { recursive: true });
const items = [];
const missed: { file: string; reason: string }[] = [];
for (const file of files) {
  const image = await decode(join(values.images, file));
  // The training crops were found on a border-padded photo: the same here, so both sets match.
  const found = pickCentralFace(await detectWithBorder(detector, image), image.width, image.height);
  const face = found && landmarker ? { ...found, landmarks: await landmarker.locate(image, found.box) } : found;
  if (!face) {
    missed.push({ file, reason: `no face at confidence ≥ ${minConfidence}` });
    continue;
  }
  const { crop, transform } = alignToTemplate(image, face.landmarks, INPAINT_TEMPLATE);
  const cropName = `${parsePath(file).name}.png`;
  await sharp(crop.data, { raw: { width: crop.width, height: crop.height, channels: 3 } }).png().toFile(join(values.out, cropName));
  items.push({
    file,
    crop: cropName,
    width: image.width,
    height: image.height,
    score: face.score,
    box: face.box,
    transform,
    landmarks: landmarksInCrop(transform, face.landmarks).map((p) => [p.x, p.y]),
  });
}

// alignment.json last, atomically: its presence means every crop it names is written.
const report = { template: INPAINT_TEMPLATE.name, size: INPAINT_TEMPLATE.size, minConfidence, landmarks: values.landmarks, items, missed };
writeFileSync(join(values.out, 'alignment.json.tmp'), JSON.stringify(report, null, 1) + '\n');
renameSync(join(values.out, 'alignment.json.tmp'), join(values.out, 'alignment.json'));
console.log(`aligned ${items.length} of ${files.length} photos into ${values.out}` + (missed.length ? `; no face in ${missed.map((m) => m.file).join(', ')}` : ''));
