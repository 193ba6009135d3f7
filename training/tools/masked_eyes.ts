// How far a surgical mask moves the eyes the landmark models find: the reason the upper-face match
// locates a covered face's eyes with faceplugin's landmark model (match.upperFace.eyes).
//
//   npx tsx training/tools/masked_eyes.ts [--lfw DIR] [--people 150] [--out FILE]
//
// For each of the first N LFW people with at least 3 photos (the people of masked_identification.ts),
// photo 1 clean and with MaskTheFace's surgical mask (src/eval/surgical-mask.ts). Reference: the eye
// centres (mean of each eye's six points) face-api's landmark net finds on the clean photo, SSD-detected
// — what the gallery is aligned on. On the masked photo, found by each detector (SSD, and TinyFace, the
// camera default, which misses most masked LFW faces): the eye centres of face-api's landmark net and
// of faceplugin's model on the detector's box. Error: mean distance of the two eye centres from the
// reference, as a share of the reference distance between the eyes.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { withSurgicalMask } from '../../lab/eval/surgical-mask.ts';
import { eyeCentres } from '../../lab/eval/upper-occluders.ts';
import { decodeImage } from '../../src/gallery/enroll.ts';
import { FacepluginLandmarker } from '../../src/detect/faceplugin-landmarks.ts';
import { FaceApiDetector } from '../../lab/tfjs/detector.ts';
import type { Point } from '../../src/types.ts';
import { DEFAULT_LFW, MASK_TEMPLATE, centralFace, lfwPhoto, peopleWithThreePhotos } from './masked_lfw.ts';

const { values } = parseArgs({
  options: {
    lfw: { type: 'string', default: DEFAULT_LFW },
    people: { type: 'string', default: '150' },
    out: { type: 'string' },
  },
});

// The detectors these figures were first measured with: face-api's TinyFace (at 0.4) and SSD (down to 0.3), on tfjs.
const models = {
  detector: await FaceApiDetector.create({ model: 'tiny', minConfidence: 0.4, tinyInputSize: 320 }),
  enrollDetector: await FaceApiDetector.create({ model: 'ssd', minConfidence: 0.3, tinyInputSize: 320 }),
  close: async () => {},
};
const landmarker = await FacepluginLandmarker.load();

function eyeError(found: readonly Point[], reference: readonly Point[]): number {
  const [a, b] = [eyeCentres(found), eyeCentres(reference)];
  const between = Math.hypot(b[1].x - b[0].x, b[1].y - b[0].y);
  return (Math.hypot(a[0].x - b[0].x, a[0].y - b[0].y) + Math.hypot(a[1].x - b[1].x, a[1].y - b[1].y)) / 2 / between;
}

const people = peopleWithThreePhotos(values.lfw).slice(0, Number(values.people));
const errors: Record<string, number[]> = {};
const add = (key: string, value: number) => (errors[key] ??= []).push(value);
let withoutReference = 0;
for (const [i, name] of people.entries()) {
  const file = lfwPhoto(values.lfw, name, 0);
  const clean = await decodeImage(readFileSync(file), 1e8);
  const reference = await centralFace(models.enrollDetector, clean);
  process.stderr.write(`\r${i + 1}/${people.length}`);
  if (!reference) {
    withoutReference++;
    continue;
  }
  const masked = await decodeImage(await withSurgicalMask(file, MASK_TEMPLATE), 1e8);
  for (const [detector, model] of [['ssd', models.enrollDetector], ['tiny', models.detector]] as const) {
    const face = await centralFace(model, masked);
    if (!face) continue;
    add(`${detector}: face-api landmarks`, eyeError(face.landmarks, reference.landmarks));
    add(`${detector}: faceplugin landmarks`, eyeError(await landmarker.locate(masked, face.box), reference.landmarks));
  }
  add('clean, ssd: faceplugin landmarks', eyeError(await landmarker.locate(clean, reference.box), reference.landmarks));
}
process.stderr.write('\n');

const at = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))];
const summary = Object.fromEntries(
  Object.entries(errors).map(([key, xs]) => [key, { faces: xs.length, median: at(xs, 0.5), p75: at(xs, 0.75), p90: at(xs, 0.9), over_10_percent: xs.filter((x) => x > 0.1).length / xs.length }]),
);
console.log(`${people.length} people, ${withoutReference} without a face on the clean photo; eye error as a share of the distance between the eyes`);
console.log('| eyes found by | faces | median | p75 | p90 | over 10 % |\n|---|---|---|---|---|---|');
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
for (const [key, s] of Object.entries(summary)) console.log(`| ${key} | ${s.faces} | ${pct(s.median)} | ${pct(s.p75)} | ${pct(s.p90)} | ${pct(s.over_10_percent)} |`);
if (values.out) writeFileSync(values.out, JSON.stringify({ people: people.length, without_reference: withoutReference, summary }, null, 2) + '\n');
await models.close();
await landmarker.close();
