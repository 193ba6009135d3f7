// Reference descriptors for the PyTorch port of FaceRecognitionNet (training/idgan/recognizer.py):
// real LFW faces, detected and aligned exactly as the service does, embedded by face-api on tfjs.
// Writes OUT/<n>.png (the 150×150 recognizer chip the descriptor was computed on), OUT/<n>-inpaint.png
// (the 128×128 inpainting crop of the same face) and OUT/reference.json.
//
//   npx tsx training/tools/faceapi_reference.ts [--lfw DIR] [--out DIR] [--count N]
import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { FACEAPI_RECOGNIZER_TEMPLATE, INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { alignToTemplate } from '../../src/align/warp.ts';
import { pickCentralFace } from '../../lab/dataset/align.ts';
import { FaceApiDetector } from '../../lab/tfjs/detector.ts';
import { FaceApiRecognizer } from '../../lab/tfjs/recognizer.ts';
import type { RgbImage } from '../../src/types.ts';

const { values } = parseArgs({
  options: {
    lfw: { type: 'string', default: '../shared/data/lfw-view1/images_deepfunneled' },
    out: { type: 'string', default: 'var/faceapi-reference' },
    count: { type: 'string', default: '20' },
  },
});
const count = Number(values.count);
if (!Number.isInteger(count) || count < 1) throw new Error(`--count must be a whole number, 1 or more, got ${values.count}`);

async function decode(path: string): Promise<RgbImage> {
  const { data, info } = await sharp(path).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function png(image: RgbImage, path: string): Promise<unknown> {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).png().toFile(path);
}

let people: string[];
try {
  people = readdirSync(values.lfw).sort();
} catch (err) {
  throw new Error(`cannot list LFW people in ${values.lfw} (${(err as Error).message}); give the folder with --lfw DIR`);
}
// Spread the picks over the alphabet: different people, ages, poses and lighting.
const stride = Math.max(1, Math.floor(people.length / (count * 2)));
const detector = await FaceApiDetector.create({ model: 'ssd', minConfidence: 0.5, tinyInputSize: 416 });
const recognizer = await FaceApiRecognizer.create();
mkdirSync(values.out, { recursive: true });

const items: { chip: string; inpaint: string; source: string; descriptor: number[] }[] = [];
for (let i = 0; i < people.length && items.length < count; i += stride) {
  const personDir = join(values.lfw, people[i]);
  const file = readdirSync(personDir).filter((f) => /\.jpe?g$/i.test(f)).sort()[0];
  if (!file) continue;
  const image = await decode(join(personDir, file));
  const face = pickCentralFace(await detector.detect(image), image.width, image.height);
  if (!face) continue; // SSD misses a few LFW faces; the next person replaces it
  const chip = alignToTemplate(image, face.landmarks, FACEAPI_RECOGNIZER_TEMPLATE).crop;
  const inpaint = alignToTemplate(image, face.landmarks, INPAINT_TEMPLATE).crop;
  const [descriptor] = await recognizer.embed([chip]);
  const n = String(items.length).padStart(2, '0');
  await png(chip, join(values.out, `${n}.png`));
  await png(inpaint, join(values.out, `${n}-inpaint.png`));
  items.push({ chip: `${n}.png`, inpaint: `${n}-inpaint.png`, source: `${people[i]}/${file}`, descriptor: Array.from(descriptor) });
}
if (items.length < count) throw new Error(`only ${items.length} of ${count} faces found in ${values.lfw}`);

// reference.json last, atomically: its presence means the whole set is there.
const reference = { recognizer: recognizer.id, version: recognizer.version, template: FACEAPI_RECOGNIZER_TEMPLATE.name, items };
writeFileSync(join(values.out, 'reference.json.tmp'), JSON.stringify(reference, null, 1) + '\n');
renameSync(join(values.out, 'reference.json.tmp'), join(values.out, 'reference.json'));
console.log(`wrote ${items.length} face-api descriptors to ${join(values.out, 'reference.json')}`);
