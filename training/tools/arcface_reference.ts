// Reference embeddings for the PyTorch port of faceplugin's 512-D ArcFace recognizer
// (training/idgan/arcface.py): real LFW faces, detected and aligned as the service does (face-api's SSD
// and 68 landmarks, the most central face), embedded by the service's own ArcFaceRecognizer on
// onnxruntime-node. Writes OUT/<n>.png (the 112×112 ARCFACE_TEMPLATE chip the embedding was computed
// on), OUT/<n>-inpaint.png (the 128×128 inpainting crop of the same face, INPAINT_TEMPLATE), and
// OUT/reference.json with each embedding and the 68 landmarks in the inpainting crop's pixels (what
// index.csv of the aligned set holds), so the trainer's chip-from-crop cut can be checked too.
//
//   npx tsx training/tools/arcface_reference.ts [--model FILE] [--lfw DIR] [--out DIR] [--count N]
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { ARCFACE_TEMPLATE, INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { alignToTemplate, landmarksInCrop } from '../../src/align/warp.ts';
import { pickCentralFace } from '../../lab/dataset/align.ts';
import { FaceApiDetector } from '../../lab/tfjs/detector.ts';
import { ArcFaceRecognizer } from '../../src/embed/arcface.ts';
import { vendoredModelPath } from '../../src/models/files.ts';
import type { RgbImage } from '../../src/types.ts';

const VENDORED = 'models/faceplugin/fr_feature.onnx';
const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    lfw: { type: 'string', default: '../shared/data/lfw-view1/images_deepfunneled' },
    out: { type: 'string', default: 'var/arcface-reference' },
    count: { type: 'string', default: '20' },
  },
});
const count = Number(values.count);
if (!Number.isInteger(count) || count < 1) throw new Error(`--count must be a whole number, 1 or more, got ${values.count}`);
// The vendored copy when it is there, else the npm package's file (the same model).
const model = values.model ?? (existsSync(VENDORED) ? VENDORED : vendoredModelPath('arcface'));

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
// Spread the picks over the alphabet (as faceapi_reference.ts): different people, ages, poses and lighting.
const stride = Math.max(1, Math.floor(people.length / (count * 2)));
const detector = await FaceApiDetector.create({ model: 'ssd', minConfidence: 0.5, tinyInputSize: 416 });
const recognizer = await ArcFaceRecognizer.load(model);
mkdirSync(values.out, { recursive: true });

const items: { chip: string; inpaint: string; source: string; landmarks: number[]; embedding: number[] }[] = [];
try {
  for (let i = 0; i < people.length && items.length < count; i += stride) {
    const personDir = join(values.lfw, people[i]);
    const file = readdirSync(personDir).filter((f) => /\.jpe?g$/i.test(f)).sort()[0];
    if (!file) continue;
    const image = await decode(join(personDir, file));
    const face = pickCentralFace(await detector.detect(image), image.width, image.height);
    if (!face) continue; // SSD misses a few LFW faces; the next person replaces it
    const chip = alignToTemplate(image, face.landmarks, ARCFACE_TEMPLATE).crop;
    const inpaint = alignToTemplate(image, face.landmarks, INPAINT_TEMPLATE);
    const [embedding] = await recognizer.embed([chip]);
    const n = String(items.length).padStart(2, '0');
    await png(chip, join(values.out, `${n}.png`));
    await png(inpaint.crop, join(values.out, `${n}-inpaint.png`));
    const landmarks = landmarksInCrop(inpaint.transform, face.landmarks).flatMap((p) => [p.x, p.y]);
    items.push({ chip: `${n}.png`, inpaint: `${n}-inpaint.png`, source: `${people[i]}/${file}`, landmarks, embedding: Array.from(embedding) });
  }
} finally {
  await recognizer.close();
}
if (items.length < count) throw new Error(`only ${items.length} of ${count} faces found in ${values.lfw}`);

// reference.json last, atomically: its presence means the whole set is there.
const reference = { recognizer: recognizer.id, version: recognizer.version, model, template: ARCFACE_TEMPLATE.name, items };
writeFileSync(join(values.out, 'reference.json.tmp'), JSON.stringify(reference, null, 1) + '\n');
renameSync(join(values.out, 'reference.json.tmp'), join(values.out, 'reference.json'));
console.log(`wrote ${items.length} ArcFace embeddings (${model}) to ${join(values.out, 'reference.json')}`);
