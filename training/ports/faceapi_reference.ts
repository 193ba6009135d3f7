// A small stored reference of face-api on tfjs (WASM backend) for training/tests/test_faceapi_ports.py:
// faces of face-api's demo photos, found by its SSD detector, as the two nets take them —
//   landmark-NN.png  the 112×112 landmark-net input (the box cut out, padded to a square, resized:
//                    face-api's own toBatchTensor, rounded to bytes), and the net's raw 136 outputs on it;
//   chip-NN.png      the 150×150 recognizer chip (aligned as the service aligns), and its descriptor.
// Writes OUT/reference.json last. Re-run it only when face-api's weights change.
//
//   npx tsx training/ports/faceapi_reference.ts [--out training/ports/fixtures/faceapi]
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { FACEAPI_RECOGNIZER_TEMPLATE } from '../../src/align/templates.ts';
import { alignToTemplate } from '../../src/align/warp.ts';
import { clipToImage } from '../../lab/tfjs/detector.ts';
import { loadFaceApi, weightsVersion } from '../../lab/tfjs/runtime.ts';
import type { RgbImage } from '../../src/types.ts';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'training/ports/fixtures/faceapi' } } });
const demoDir = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');
// (photo, face index left to right): a frontal face, a turned one, a tilted one.
const LANDMARK_FACES: [string, number][] = [['sample1.jpg', 1], ['sample2.jpg', 0], ['sample6.jpg', 2]];
const CHIP_FACES: [string, number][] = [['sample3.jpg', 0], ['sample5.jpg', 3]];

const faceapi = await loadFaceApi();
const { tf } = faceapi;
mkdirSync(values.out, { recursive: true });

async function decode(file: string): Promise<RgbImage> {
  const { data, info } = await sharp(join(demoDir, file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

function png(data: Uint8Array, size: number, path: string): Promise<unknown> {
  return sharp(data, { raw: { width: size, height: size, channels: 3 } }).png().toFile(path);
}

/** SSD's faces of a photo, left to right, with face-api's landmarks. */
async function faces(image: RgbImage) {
  const input = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
  try {
    const found = await faceapi.detectAllFaces(input as never, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5 })).withFaceLandmarks();
    return found.sort((a, b) => a.detection.box.x - b.detection.box.x);
  } finally {
    input.dispose();
  }
}

const landmarks: { file: string; source: string; output: number[] }[] = [];
for (const [n, [photo, index]] of LANDMARK_FACES.entries()) {
  const image = await decode(photo);
  const box = (await faces(image))[index].detection.box;
  const region = clipToImage({ x: box.x, y: box.y, width: box.width, height: box.height }, image.width, image.height);
  const input = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
  const [face] = await faceapi.extractFaceTensors(input as never, [new faceapi.Rect(region.x, region.y, region.width, region.height)]);
  const netInput = await faceapi.toNetInput(face as never);
  const batch = netInput.toBatchTensor(112, true);
  const bytes = Uint8Array.from(await batch.data(), (v) => Math.max(0, Math.min(255, Math.round(v))));
  for (const t of [input, face, batch]) t.dispose();
  // The rounded square itself through the net: 112×112 needs no pad or resize, so the output is the raw one.
  const square = tf.tensor3d(bytes, [112, 112, 3], 'int32');
  const output = faceapi.nets.faceLandmark68Net.forwardInput(await faceapi.toNetInput(square as never));
  const file = `landmark-${String(n).padStart(2, '0')}.png`;
  landmarks.push({ file, source: `${photo} face ${index}`, output: Array.from(await output.data()) });
  square.dispose();
  output.dispose();
  await png(bytes, 112, join(values.out, file));
}

const chips: { file: string; source: string; descriptor: number[] }[] = [];
for (const [n, [photo, index]] of CHIP_FACES.entries()) {
  const image = await decode(photo);
  const face = (await faces(image))[index];
  const chip = alignToTemplate(image, face.landmarks.positions, FACEAPI_RECOGNIZER_TEMPLATE).crop;
  const tensor = tf.tensor3d(chip.data, [150, 150, 3], 'int32');
  const descriptor = (await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(tensor as never)) as Float32Array;
  tensor.dispose();
  const file = `chip-${String(n).padStart(2, '0')}.png`;
  chips.push({ file, source: `${photo} face ${index}`, descriptor: Array.from(descriptor) });
  await png(chip.data, 150, join(values.out, file));
}

const reference = {
  made_by: 'npx tsx training/ports/faceapi_reference.ts',
  weights: { landmark68: weightsVersion('face_landmark_68_model.bin'), recognizer: weightsVersion('face_recognition_model.bin') },
  landmarks,
  chips,
};
writeFileSync(join(values.out, 'reference.json'), JSON.stringify(reference, null, 1) + '\n');
console.log(`wrote ${landmarks.length} landmark and ${chips.length} descriptor references to ${values.out}`);
