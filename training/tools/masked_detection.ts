// How many masked faces each detector finds on a camera frame: the first loss before any masked
// person can be named. Also measures faceplugin's detector (npm faceplugin-face-recognition-js,
// model/fr_detect.onnx, an RFB-320 "ultra-light" detector), the service's camera detector since (detect.model: faceplugin).
//
//   npx tsx training/tools/masked_detection.ts [--lfw DIR] [--people 100] [--out FILE]
//
// For each of the first N LFW people with at least 3 photos (those of masked_identification.ts),
// photo 1 clean and with MaskTheFace's surgical mask, put on a 640×360 mid-grey frame as the e2e video
// shows it (250 px, centred). A face counts as found when a detection's box centre lies within
// 40 × 50 px of the frame's centre. Detectors: face-api's TinyFace (the camera default) and SSD, both at
// 0.4 (the masked e2e test's setting); faceplugin's at 0.5 and 0.65 (its package's default), fed as its
// package feeds it (the frame stretched to 320×240, RGB (v − 127) / 128; it outputs corner boxes as
// fractions of the frame).
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import sharp from 'sharp';
import { withSurgicalMask } from '../../lab/eval/surgical-mask.ts';
import { vendoredModelPath } from '../../src/models/files.ts';
import { FaceApiDetector } from '../../lab/tfjs/detector.ts';
import type { Box, RgbImage } from '../../src/types.ts';
import { DEFAULT_LFW, MASK_TEMPLATE, lfwPhoto, onCameraFrame, peopleWithThreePhotos } from './masked_lfw.ts';

const { values } = parseArgs({
  options: {
    lfw: { type: 'string', default: DEFAULT_LFW },
    people: { type: 'string', default: '100' },
    out: { type: 'string' },
  },
});
const FRAME = { width: 640, height: 360 };

// The detectors these figures were first measured with: face-api's TinyFace (at 0.4) and SSD (down to 0.3), on tfjs.
const models = {
  detector: await FaceApiDetector.create({ model: 'tiny', minConfidence: 0.4, tinyInputSize: 320 }),
  enrollDetector: await FaceApiDetector.create({ model: 'ssd', minConfidence: 0.3, tinyInputSize: 320 }),
  close: async () => {},
};
const faceplugin = await InferenceSession.create(vendoredModelPath('detector'), { intraOpNumThreads: 1 });

/** faceplugin's detections above `minScore`, in the frame's pixels. */
async function facepluginBoxes(frame: RgbImage, minScore: number): Promise<{ boxes: Box[]; ms: number }> {
  const small = await sharp(Buffer.from(frame.data), { raw: { width: frame.width, height: frame.height, channels: 3 } })
    .resize(320, 240, { fit: 'fill' })
    .raw()
    .toBuffer();
  const plane = 320 * 240;
  const input = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) input[c * plane + i] = (small[i * 3 + c] - 127) / 128;
  const start = performance.now();
  const out = await faceplugin.run({ input: new Tensor('float32', input, [1, 3, 240, 320]) });
  const ms = performance.now() - start;
  const scores = out.scores.data as Float32Array, corners = out.boxes.data as Float32Array;
  const boxes: Box[] = [];
  for (let i = 0; i < scores.length / 2; i++) {
    if (scores[2 * i + 1] < minScore) continue;
    const [x0, y0, x1, y1] = corners.subarray(4 * i, 4 * i + 4);
    boxes.push({ x: x0 * frame.width, y: y0 * frame.height, width: (x1 - x0) * frame.width, height: (y1 - y0) * frame.height });
  }
  return { boxes, ms };
}

const central = (b: Box) => Math.abs(b.x + b.width / 2 - FRAME.width / 2) < 40 && Math.abs(b.y + b.height / 2 - FRAME.height / 2) < 50;

const people = peopleWithThreePhotos(values.lfw).slice(0, Number(values.people));
const found: Record<string, number> = {};
const count = (key: string, hit: boolean) => (found[key] = (found[key] ?? 0) + (hit ? 1 : 0));
const facepluginMs: number[] = [];
for (const [i, name] of people.entries()) {
  const file = lfwPhoto(values.lfw, name, 0);
  for (const masked of [false, true]) {
    const frame = await onCameraFrame(masked ? await withSurgicalMask(file, MASK_TEMPLATE) : file);
    const kind = masked ? 'masked' : 'clean';
    count(`${kind}, face-api TinyFace at 0.4`, (await models.detector.detect(frame)).some((f) => central(f.box)));
    count(`${kind}, face-api SSD at 0.4`, (await models.enrollDetector.detect(frame)).some((f) => f.score >= 0.4 && central(f.box)));
    for (const minScore of [0.5, 0.65]) {
      const { boxes, ms } = await facepluginBoxes(frame, minScore);
      facepluginMs.push(ms);
      count(`${kind}, faceplugin RFB-320 at ${minScore}`, boxes.some(central));
    }
  }
  process.stderr.write(`\r${i + 1}/${people.length}`);
}
process.stderr.write('\n');

facepluginMs.sort((a, b) => a - b);
const median = facepluginMs[Math.floor(facepluginMs.length / 2)];
console.log(`${people.length} LFW people on a 640×360 frame; faceplugin's detector: median ${median.toFixed(1)} ms a frame (one thread)`);
console.log('| photo, detector | faces found |\n|---|---|');
for (const [key, n] of Object.entries(found)) console.log(`| ${key} | ${n} of ${people.length} (${((100 * n) / people.length).toFixed(1)} %) |`);
if (values.out) writeFileSync(values.out, JSON.stringify({ people: people.length, faceplugin_median_ms: median, found }, null, 2) + '\n');
await models.close();
await faceplugin.release();
