// Who is behind the mask: LFW people wearing a surgical mask, identified against clean enrolled photos,
// with and without the service's repair stage (occlusion segmenter + each generator given). The
// product's question — does inpainting give the name back? — measured the way the service works.
//
//   npx tsx training/tools/masked_identification.ts [--lfw DIR] [--people 60] [--strangers 60] [--model FILE]… [--camera-frame [--camera-confidence 0.5]] [--occluder mask|sunglasses|brim] [--unmasked] [--out FILE]
//
// People: the first N LFW folders (sorted) with at least 3 photos. Gallery: each person's photos 2 and 3,
// clean, detected with the enrollment detector. Probe: photo 1 with MaskTheFace's surgical_blue
// template pasted over nose, mouth and chin (as test/e2e/occlusion.test.ts does), detected with the
// same detector (candidates down to 0.3: a mask costs the detector confidence — this measures the
// repair, not the detector). With --camera-frame each probe is put on a camera frame instead, as the
// e2e video shows it (scaled to 250 px, centred on a 640×360 grey frame), and found by the camera
// detector at --camera-confidence: the share of masked people the service would name, detector
// included. The recognizer is the configured one (recognize.model). For the probe as it is ("masked") and
// after each generator's repair: rank-1 identification over the N people, the mean cosine to the
// person's own gallery, the share the service would alert with the right name (best match is the
// person and scores ≥ match.threshold), and the share it would alert with a wrong name. Also:
//   "<model>, less margin" the repair alone scored as the service scores a covered face: less match.occludedMargin;
//   "<model>+raw"        the probe as it is and its repair both matched, the better kept (match.matchUnrepaired);
//   "upper-face"         the upper face alone (ArcFace, rows below match.upperFace.visibleHeight hidden, on a
//                        gallery seen the same way) against match.upperFace.threshold, the probe's eyes located
//                        as the service does (match.upperFace.eyes: faceplugin's landmark model on the box);
//   "upper-face, detector eyes"  the same, aligned on the detector's landmarks;
//   "<model>+raw+upper"  what the service does (match/policy.ts bestMatch): a face the segmenter finds covered below
//                        the eyes is matched on its upper face, moved onto the main scale; any other on the
//                        better of raw and repaired, less match.occludedMargin.
// The repair stage aligns the segmenter's crop as config occlusion.landmarks says (faceplugin's landmark
// model on the detector's box, by default), as the service does.
// --occluder sunglasses|brim: dark lenses over the eyes, or a hat brim down to the upper lids, instead of the
// mask (lab/eval/upper-occluders.ts), placed by the clean photo's landmarks: faces covered above the nose,
// which the service matches repaired and as they came.
// --unmasked: the probes and strangers without the mask, to see what the same pipeline does to clean faces.
// Strangers — the next N folders' people, never enrolled, masked the same way — measure the false
// alerts each condition costs; a sweep over thresholds shows what the thresholds trade. Probes where
// the detector finds no face are counted and skipped.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { alignToTemplate } from '../../src/align/warp.ts';
import { parseConfig } from '../../src/config.ts';
import { withBrim, withSunglasses } from '../../lab/eval/upper-occluders.ts';
import { withSurgicalMask } from '../../lab/eval/surgical-mask.ts';
import { decodeImage } from '../../src/gallery/enroll.ts';
import { loadModels } from '../../src/models/registry.ts';
import type { Recognizer } from '../../src/models/types.ts';
import { OnnxInpainter } from '../../src/repair/idgan.ts';
import { OnnxOcclusionSegmenter } from '../../src/repair/segmenter.ts';
import { upperFaceView } from '../../src/embed/upper-face.ts';
import { FaceRepairer } from '../../src/repair/repairer.ts';
import { ontoMainScale } from '../../src/match/policy.ts';
import type { AlignedFace } from '../../src/pipeline/messages.ts';
import type { DetectedFace, Point, RgbImage } from '../../src/types.ts';
import { DEFAULT_LFW, MASK_TEMPLATE, centralFace, lfwPhoto, onCameraFrame, peopleWithThreePhotos } from './masked_lfw.ts';

const root = join(import.meta.dirname, '../..');
const { values } = parseArgs({
  options: {
    lfw: { type: 'string', default: DEFAULT_LFW },
    people: { type: 'string', default: '60' },
    strangers: { type: 'string', default: '60' },
    model: { type: 'string', multiple: true, default: [join(root, 'models/idgan-inpaint.onnx')] },
    occlusion: { type: 'string', default: join(root, 'models/occlusion-seg.onnx') },
    'camera-frame': { type: 'boolean', default: false },
    'camera-confidence': { type: 'string', default: '0.5' },
    occluder: { type: 'string', default: 'mask' },
    unmasked: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});

/** What each --occluder puts on the probes, as the results say it. */
const OCCLUDERS: Record<string, string> = { mask: 'a surgical mask', sunglasses: 'sunglasses', brim: 'a hat brim' };
if (!Object.hasOwn(OCCLUDERS, values.occluder!)) {
  console.error(`--occluder must be one of ${Object.keys(OCCLUDERS).join(', ')}, not ${values.occluder}`);
  process.exit(2);
}
const config = parseConfig({ detect: { minConfidence: Number(values['camera-confidence']) } });
const models = await loadModels(config, 1);
const segmenter = await OnnxOcclusionSegmenter.load(values.occlusion);
const upperFace = upperFaceView(models.arcFace, config.match.upperFace.visibleHeight);
const landmarker = models.maskLandmarker;
const repairLandmarker = config.occlusion.landmarks === 'faceplugin' ? landmarker : undefined;
const repairers = await Promise.all(
  values.model.map(async (path) => ({
    name: basename(path, '.onnx'),
    repairer: new FaceRepairer(segmenter, await OnnxInpainter.load(path), { ...config.occlusion, upperFace: config.match.upperFace.enabled }, repairLandmarker),
  })),
);

function aligned(image: RgbImage, face: DetectedFace, recognizer: Recognizer): AlignedFace {
  return {
    observation: { camera: 'eval', frameSeq: 0, frameTime: 0, trackId: 0, face, quality: 1 },
    crop: alignToTemplate(image, face.landmarks, INPAINT_TEMPLATE).crop,
    recognizerCrop: alignToTemplate(image, face.landmarks, recognizer.template).crop,
  };
}

const cosine = (a: Float32Array, b: Float32Array) => {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) (dot += a[i] * b[i]), (na += a[i] * a[i]), (nb += b[i] * b[i]);
  return dot / Math.sqrt(na * nb);
};

const withThreePhotos = peopleWithThreePhotos(values.lfw);
const people = withThreePhotos.slice(0, Number(values.people));
const strangers = withThreePhotos.slice(people.length, people.length + Number(values.strangers));
const photo = (name: string, k: number) => lfwPhoto(values.lfw, name, k);

const gallery = new Map<string, Float32Array[]>();
const upperGallery = new Map<string, Float32Array[]>();
for (const name of people) {
  const embeddings: Float32Array[] = [];
  const upper: Float32Array[] = [];
  for (const k of [1, 2]) {
    const image = await decodeImage(readFileSync(photo(name, k)), 1e8);
    const face = await centralFace(models.enrollDetector, image);
    if (!face) continue;
    embeddings.push((await models.recognizer.embed([aligned(image, face, models.recognizer).recognizerCrop]))[0]);
    upper.push((await upperFace.embed([alignToTemplate(image, face.landmarks, upperFace.template).crop]))[0]);
  }
  if (embeddings.length) gallery.set(name, embeddings), upperGallery.set(name, upper);
}

type Tally = { rank1: number; alerted: number; wrongName: number; ownCosine: number; n: number; fraction: number; strangers: number; strangersAlerted: number };
/** The probe as it is: masked, or with --unmasked the clean photo (the baseline the masked figures compare with). */
const AS_IS = values.unmasked ? 'unmasked' : values.occluder === 'mask' ? 'masked' : values.occluder!;
const lessMargin = (model: string) => `${model}, less margin`;
const conditions = [
  AS_IS,
  'upper-face',
  'upper-face, detector eyes',
  ...repairers.flatMap((r) => [r.name, lessMargin(r.name), `${r.name}+raw`, `${r.name}+raw+upper`]),
];
const tally: Record<string, Tally> = Object.fromEntries(
  conditions.map((c) => [c, { rank1: 0, alerted: 0, wrongName: 0, ownCosine: 0, n: 0, fraction: 0, strangers: 0, strangersAlerted: 0 }]),
);
let noFace = 0;
let strangersWithoutAFace = 0;
/** Probes and strangers the service would also match on their upper face, per generator. */
const belowEyes: Record<string, number> = Object.fromEntries(repairers.map((r) => [r.name, 0]));

type Ranking = { who: string; cos: number }[];

/** Best gallery cosine per person, best first, over all the probe's embeddings (raw and repaired: the better one counts). */
function ranked(embeddings: Float32Array[], of = gallery): Ranking {
  return [...of]
    .map(([who, es]) => ({ who, cos: Math.max(...es.flatMap((e) => embeddings.map((p) => cosine(p, e)))) }))
    .sort((a, b) => b.cos - a.cos);
}

/**
 * What the service does (match/policy.ts bestMatch): a face covered below the eyes is matched on its upper
 * face, moved onto the main scale (held undecided within match.upperFace.margin of the next identity);
 * any other, the main match less match.occludedMargin when occluded.
 */
function serviceRanking(main: Ranking, upper: Ranking | undefined, occluded: boolean): Ranking {
  const { threshold, occludedMargin, upperFace: u } = config.match;
  if (upper) {
    // A top match within match.upperFace.margin of the next identity is held undecided, as bestMatch does.
    const ambiguous = upper.length > 1 && upper[0].cos - upper[1].cos < u.margin;
    return upper.map(({ who, cos }, k) => {
      const mapped = ontoMainScale(cos, u.threshold, threshold);
      return { who, cos: k === 0 && ambiguous ? Math.min(mapped, threshold - 1e-6) : mapped };
    });
  }
  return main.map(({ who, cos }) => ({ who, cos: cos - (occluded ? occludedMargin : 0) }));
}

/** Each probe's best match, per condition: for the sweep over thresholds. */
const outcomes: Record<string, { stranger: boolean; right: boolean; cos: number; second: number }[]> = Object.fromEntries(conditions.map((c) => [c, []]));

/** `name` undefined: a stranger, who should raise no named alert. */
function score(condition: string, name: string | undefined, r: Ranking, fraction = 0, threshold = config.match.threshold): void {
  const t = tally[condition];
  outcomes[condition].push({ stranger: name === undefined, right: r[0].who === name, cos: r[0].cos, second: r[1]?.cos ?? -1 });
  const alerts = r[0].cos >= threshold;
  if (name === undefined) {
    t.strangers++;
    if (alerts) t.strangersAlerted++;
    return;
  }
  t.n++;
  t.fraction += fraction;
  t.ownCosine += r.find((x) => x.who === name)!.cos;
  if (r[0].who === name) {
    t.rank1++;
    if (alerts) t.alerted++;
  } else if (alerts) t.wrongName++;
}

/** The photo with the occluder on; undefined when sunglasses or a brim find no face to sit on. */
async function withOccluder(photoPath: string): Promise<Buffer | undefined> {
  if (values.occluder === 'mask') return withSurgicalMask(photoPath, MASK_TEMPLATE);
  const clean = await centralFace(models.enrollDetector, await decodeImage(readFileSync(photoPath), 1e8));
  if (!clean) return undefined;
  return values.occluder === 'sunglasses' ? withSunglasses(photoPath, clean.landmarks) : withBrim(photoPath, clean.landmarks);
}

/** One masked probe through every condition. */
async function probe(name: string, photoPath: string, stranger: boolean): Promise<boolean> {
  const masked = values.unmasked ? readFileSync(photoPath) : await withOccluder(photoPath);
  if (!masked) return false;
  const image = values['camera-frame'] ? await onCameraFrame(masked) : await decodeImage(masked, 1e8);
  const face = await centralFace(values['camera-frame'] ? models.detector : models.enrollDetector, image);
  if (!face) return false;
  const who = stranger ? undefined : name;
  const probeFace = aligned(image, face, models.recognizer);
  const [raw] = await models.recognizer.embed([probeFace.recognizerCrop]);
  score(AS_IS, who, ranked([raw]));
  const upperOf = async (landmarks: readonly Point[]) => ranked(await upperFace.embed([alignToTemplate(image, landmarks, upperFace.template).crop]), upperGallery);
  const detectorEyes = await upperOf(face.landmarks);
  const upperRanking = config.match.upperFace.eyes === 'faceplugin' ? await upperOf(await landmarker.locate(image, face.box)) : detectorEyes;
  score('upper-face', who, upperRanking, 0, config.match.upperFace.threshold);
  score('upper-face, detector eyes', who, detectorEyes, 0, config.match.upperFace.threshold);
  for (const { name: model, repairer } of repairers) {
    const [repaired] = await repairer.repair(image, [probeFace], models.recognizer.template, () => {});
    const fraction = repaired.occlusion?.fraction ?? 0;
    const occluded = repaired.route !== 'clean';
    const onUpperFace = repaired.route === 'upper-face';
    if (onUpperFace) belowEyes[model]++;
    const [fixed] = await models.recognizer.embed([repaired.recognizerCrop]);
    const alone = ranked([fixed]);
    const withRaw = ranked([raw, fixed]);
    score(model, who, alone, fraction);
    score(lessMargin(model), who, serviceRanking(alone, undefined, occluded), fraction);
    score(`${model}+raw`, who, withRaw, fraction);
    score(`${model}+raw+upper`, who, serviceRanking(withRaw, onUpperFace ? upperRanking : undefined, occluded), fraction);
  }
  return true;
}

let done = 0;
for (const name of gallery.keys()) {
  if (!(await probe(name, photo(name, 0), false))) noFace++;
  process.stderr.write(`\r${++done}/${gallery.size} probes`);
}
done = 0;
for (const name of strangers) {
  if (!(await probe(name, photo(name, 0), true))) strangersWithoutAFace++;
  process.stderr.write(`\r${++done}/${strangers.length} strangers`);
}
process.stderr.write('\n');

/** What a stricter threshold for occluded faces would trade: right names against false alerts (steps above match.threshold). */
const SWEEP = [0, 0.02, 0.04, 0.06, 0.08].map((d) => Math.round((config.match.threshold + d) * 100) / 100);
/** The upper-face recognizer's own scale (match.upperFace.threshold). */
const SWEEP_UPPER = [0.55, 0.6, 0.62, 0.65, 0.66, 0.67, 0.68, 0.7];
const sweep = Object.fromEntries(
  conditions.map((c) => {
    const known = outcomes[c].filter((o) => !o.stranger);
    const unknown = outcomes[c].filter((o) => o.stranger);
    const share = (xs: unknown[], n: number) => (n ? xs.length / n : null);
    return [
      c,
      (c.startsWith('upper-face') ? SWEEP_UPPER : SWEEP).map((threshold) => ({
        threshold,
        alerted: share(known.filter((o) => o.right && o.cos >= threshold), known.length),
        wrong_name: share(known.filter((o) => !o.right && o.cos >= threshold), known.length),
        strangers_alerted: share(unknown.filter((o) => o.cos >= threshold), unknown.length),
      })),
    ];
  }),
);

const results = {
  probes_on:
    (values['camera-frame'] ? `a 640×360 camera frame, ${models.detector.id} at ${config.detect.minConfidence}` : `the photo, ${models.enrollDetector.id}`) +
    (values.unmasked ? ', unmasked' : `, wearing ${OCCLUDERS[values.occluder!]}`),
  people: gallery.size,
  probes: gallery.size - noFace,
  probes_without_a_face: noFace,
  strangers: strangers.length - strangersWithoutAFace,
  strangers_without_a_face: strangersWithoutAFace,
  match_threshold: config.match.threshold,
  recognizer: `${models.recognizer.id}@${models.recognizer.version}`,
  upper_face: { ...config.match.upperFace, recognizer: upperFace.id, version: upperFace.version, eyes_by: config.match.upperFace.eyes === 'faceplugin' ? landmarker.id : 'detector', matched_below_eyes: belowEyes },
  occlusion_landmarks: repairLandmarker?.id ?? 'detector',
  sweep,
  conditions: Object.fromEntries(
    conditions.map((c) => {
      const t = tally[c];
      return [
        c,
        {
          rank1: t.rank1 / t.n,
          alerted: t.alerted / t.n,
          wrong_name: t.wrongName / t.n,
          own_cosine: t.ownCosine / t.n,
          strangers_alerted: t.strangers ? t.strangersAlerted / t.strangers : null,
          ...(c === AS_IS ? {} : { occluded_fraction: t.fraction / t.n }),
        },
      ];
    }),
  ),
};
console.log(
  `${results.probes} ${AS_IS} probes of ${results.people} people (${noFace} without a face), gallery of clean photos; ` +
    `${results.strangers} ${AS_IS} strangers (${strangersWithoutAFace} without a face)`,
);
const pct = (x: number | null) => (x === null ? '–' : `${(100 * x).toFixed(1)} %`);
console.log('| condition | rank-1 | alerted with the right name (≥ threshold) | with a wrong name | strangers alerted | mean own cosine |\n|---|---|---|---|---|---|');
for (const [c, r] of Object.entries(results.conditions))
  console.log(`| ${c} | ${pct(r.rank1)} | ${pct(r.alerted)} | ${pct(r.wrong_name)} | ${pct(r.strangers_alerted)} | ${r.own_cosine.toFixed(3)} |`);
console.log('\nthreshold sweep: right name / wrong name / strangers alerted');
for (const [c, rows] of Object.entries(sweep))
  console.log(`${c}: ` + rows.map((r) => `${r.threshold}: ${pct(r.alerted)} / ${pct(r.wrong_name)} / ${pct(r.strangers_alerted)}`).join('; '));
console.log(`matched on the upper face too (covered below the eyes): ${JSON.stringify(belowEyes)} of ${results.probes + results.strangers} ${AS_IS} faces`);
// Each probe's best and second-best score per condition (the sweep's raw material), beside the results.
if (values.out) writeFileSync(values.out, JSON.stringify(results, null, 2) + '\n');
if (values.out) writeFileSync(values.out.replace(/\.json$/, '') + '-outcomes.json', JSON.stringify(outcomes) + '\n');
await models.close();
await segmenter.close();
for (const { repairer } of repairers) await repairer.inpainter?.close();
