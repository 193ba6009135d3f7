// The repair stage with fake models: a clean face skips inpainting, an occluded one goes through it,
// is pasted back into the frame and re-cut for the recognizer; failures and absent models never throw.
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { FACEAPI_RECOGNIZER_TEMPLATE, INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { alignToTemplate } from '../../src/align/warp.ts';
import { parseConfig } from '../../src/config.ts';
import type { Inpainter } from '../../src/models/types.ts';
import type { OcclusionSegmenter } from '../../src/models/types.ts';
import type { Detector, Landmarker, Recognizer } from '../../src/models/types.ts';
import { Pipeline } from '../../src/pipeline/index.ts';
import { InpaintBatcher } from '../../src/repair/batcher.ts';
import { upperFaceView } from '../../src/embed/upper-face.ts';
import { holeInFrame } from '../../src/repair/occlusion.ts';
import { FaceRepairer, type RepairSettings } from '../../src/repair/repairer.ts';
import type { AlertMessage } from '../../src/alert/message.ts';
import type { AlignedFace, Frame } from '../../src/pipeline/messages.ts';
import type { Box, DetectedFace, Identity, Point, RgbImage } from '../../src/types.ts';

const W = 240, H = 240;
const BOX = { x: 60, y: 50, width: 120, height: 140 };
const GREEN = [0, 255, 0];
const FILL = [210, 40, 40];

/** A face outline with the points alignment uses where a frontal face has them. */
function landmarks(): Point[] {
  const pts: Point[] = [];
  for (let i = 0; i < 17; i++) {
    const t = (Math.PI * i) / 16;
    pts.push({ x: 120 - 55 * Math.cos(t), y: 100 + 80 * Math.sin(t) });
  }
  for (let i = 17; i < 68; i++) pts.push({ x: 90 + ((i * 7) % 60), y: 85 + ((i * 11) % 80) });
  const at = (i: number, x: number, y: number) => (pts[i] = { x, y });
  at(36, 88, 105); at(39, 108, 105); at(42, 132, 105); at(45, 152, 105); at(33, 120, 140);
  for (const i of [17, 21, 22, 26]) pts[i] = { x: 80 + (i - 17) * 8, y: 90 };
  return pts;
}

/** Reddish noise (a person), with a green block over the lower face when `occluded`. */
function frameImage(occluded: boolean, seed = 1): RgbImage {
  const data = new Uint8Array(W * H * 3);
  let s = seed;
  for (let i = 0; i < data.length; i += 3) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const v = s % 60;
    data[i] = 150 + v;
    data[i + 1] = 60 + v;
    data[i + 2] = 50 + v;
  }
  if (occluded)
    for (let y = 140; y < 200; y++) for (let x = 70; x < 170; x++) data.set(GREEN, (y * W + x) * 3);
  return { width: W, height: H, data };
}

function isGreen(img: RgbImage, p: number): boolean {
  return img.data[p * 3] < 40 && img.data[p * 3 + 1] > 215 && img.data[p * 3 + 2] < 40;
}

function countGreen(img: RgbImage): number {
  let n = 0;
  for (let p = 0; p < img.width * img.height; p++) n += isGreen(img, p) ? 1 : 0;
  return n;
}

/** Finds the pure-green pixels: a perfect segmenter for these frames. */
class GreenSegmenter implements OcclusionSegmenter {
  readonly id = 'fake-seg';
  readonly version = '1';
  readonly size = 128;
  calls = 0;
  fail = false;
  async segment(crops: RgbImage[]): Promise<Float32Array[]> {
    this.calls++;
    if (this.fail) throw new Error('segmenter broke');
    return crops.map((c) => Float32Array.from({ length: c.width * c.height }, (_, p) => (isGreen(c, p) ? 0.9 : 0.1)));
  }
  async close() {}
}

/** Fills the hole with one colour and remembers the masks it was given. */
class FillInpainter implements Inpainter {
  readonly id = 'fake-inpaint';
  readonly version = '1';
  readonly size = 128;
  masks: Uint8Array[] = [];
  /** Faces per call. */
  runs: number[] = [];
  fail = false;
  async inpaint(crops: RgbImage[], masks: Uint8Array[]): Promise<RgbImage[]> {
    if (this.fail) throw new Error('inpainter broke');
    this.masks.push(...masks);
    this.runs.push(crops.length);
    return crops.map((c, n) => {
      const data = new Uint8Array(c.data);
      masks[n].forEach((m, p) => m && data.set(FILL, p * 3));
      return { width: c.width, height: c.height, data };
    });
  }
  async close() {}
}

const recognizer: Recognizer = {
  id: 'fake-rec',
  version: '1',
  dims: 3,
  template: FACEAPI_RECOGNIZER_TEMPLATE,
  /** Mean colour: red for the person, green when the block is still there. */
  embed: async (crops) =>
    crops.map((c) => {
      const sum = [0, 0, 0];
      for (let i = 0; i < c.data.length; i += 3) for (let k = 0; k < 3; k++) sum[k] += c.data[i + k];
      return Float32Array.from(sum);
    }),
};

const SETTINGS: RepairSettings = { threshold: 0.5, minFraction: 0.05, dilatePx: 0, upperFace: false };

function alignedFace(image: RgbImage): AlignedFace {
  const face: DetectedFace = { box: BOX, score: 0.99, landmarks: landmarks() };
  return {
    observation: { camera: 'cam', frameSeq: 0, frameTime: 0, trackId: 1, face, quality: 1 },
    crop: alignToTemplate(image, face.landmarks, INPAINT_TEMPLATE).crop,
    recognizerCrop: alignToTemplate(image, face.landmarks, recognizer.template).crop,
  };
}

const noClock = () => {};

describe('FaceRepairer', () => {
  it('measures a clean face and leaves it alone: no inpainting', async () => {
    const inpainter = new FillInpainter();
    const image = frameImage(false);
    const face = alignedFace(image);
    const [out] = await new FaceRepairer(new GreenSegmenter(), inpainter, SETTINGS).repair(image, [face], recognizer.template, noClock);
    expect(inpainter.masks).toHaveLength(0);
    expect(out.occlusion).toEqual({ fraction: 0, belowEyes: false });
    expect(out.route).toBe('clean');
    expect(out.recognizerCrop).toBe(face.recognizerCrop);
  });

  it('inpaints an occluded face, pastes it back and re-cuts the recognizer crop from the repaired frame', async () => {
    const inpainter = new FillInpainter();
    const image = frameImage(true);
    const face = alignedFace(image);
    const [out] = await new FaceRepairer(new GreenSegmenter(), inpainter, SETTINGS).repair(image, [face], recognizer.template, noClock);
    expect(inpainter.masks).toHaveLength(1);
    // The hole handed to the inpainter is exactly the green of the crop (no dilation here).
    const [mask] = inpainter.masks;
    for (let p = 0; p < mask.length; p++) expect(mask[p]).toBe(isGreen(face.crop, p) ? 1 : 0);
    expect(out.occlusion!.fraction).toBeGreaterThan(0.2);
    expect(out.occlusion!.fraction).toBeLessThan(0.8);
    expect(out.occlusion!.belowEyes).toBe(true); // the block covers nose, mouth and chin
    expect(out.route).toBe('repaired'); // upper face off in SETTINGS
    expect(out.occlusion!.inpainted).toBeDefined();
    expect(out.occlusion!.mask).toBe(mask);
    // The recognizer saw the green block before; after the repair it is gone but for a seam.
    const before = countGreen(face.recognizerCrop);
    expect(before).toBeGreaterThan(1000);
    expect(countGreen(out.recognizerCrop)).toBeLessThan(before * 0.05);
    expect(out.recognizerCrop).toMatchObject({ width: 150, height: 150 });
    // The frame itself is not changed: the paste goes into a copy.
    expect(countGreen(image)).toBe(100 * 60);
  });

  it('below minFraction, or without an inpainter, an occluded face is measured but not repaired', async () => {
    const image = frameImage(true);
    const face = alignedFace(image);
    const inpainter = new FillInpainter();
    const [high] = await new FaceRepairer(new GreenSegmenter(), inpainter, { ...SETTINGS, minFraction: 0.95 }).repair(image, [face], recognizer.template, noClock);
    expect(inpainter.masks).toHaveLength(0);
    expect(high.occlusion!.inpainted).toBeUndefined();
    const [none] = await new FaceRepairer(new GreenSegmenter(), undefined, SETTINGS).repair(image, [face], recognizer.template, noClock);
    expect(none.occlusion!.fraction).toBeCloseTo(high.occlusion!.fraction, 10);
    expect(none.recognizerCrop).toBe(face.recognizerCrop);
  });

  it('decides the route once: clean, repaired, or upper-face when the cover lies below the eyes and the upper face is on', async () => {
    const image = frameImage(true);
    const [upper] = await new FaceRepairer(new GreenSegmenter(), new FillInpainter(), { ...SETTINGS, upperFace: true }).repair(image, [alignedFace(image)], recognizer.template, noClock);
    expect(upper.route).toBe('upper-face');
    // Still inpainted: the alert shows the repaired face.
    expect(upper.occlusion!.inpainted).toBeDefined();
    const [high] = await new FaceRepairer(new GreenSegmenter(), new FillInpainter(), { ...SETTINGS, upperFace: true, minFraction: 0.95 }).repair(image, [alignedFace(image)], recognizer.template, noClock);
    expect(high.route).toBe('clean');
  });

  it('routes each face of a frame on its own: one clean, one occluded', async () => {
    const inpainter = new FillInpainter();
    const clean = frameImage(false), occluded = frameImage(true);
    const out = await new FaceRepairer(new GreenSegmenter(), inpainter, SETTINGS).repair(occluded, [alignedFace(clean), alignedFace(occluded)], recognizer.template, noClock);
    expect(inpainter.masks).toHaveLength(1);
    expect(out[0].occlusion).toEqual({ fraction: 0, belowEyes: false });
    expect(out[1].occlusion!.inpainted).toBeDefined();
  });

  it('with the service’s batcher, occluded faces of two cameras at once run as one batch, each back to its camera', async () => {
    const inpainter = new FillInpainter();
    const repairer = new FaceRepairer(new GreenSegmenter(), new InpaintBatcher(inpainter, { maxBatch: 8, maxWaitMs: 50 }), SETTINGS);
    const a = frameImage(true, 1), b = frameImage(true, 2);
    const [outA, outB] = await Promise.all([
      repairer.repair(a, [alignedFace(a)], recognizer.template, noClock),
      repairer.repair(b, [alignedFace(b)], recognizer.template, noClock),
    ]);
    expect(inpainter.runs).toEqual([2]);
    // Each camera's face comes back inpainted from its own crop (the noise of its own frame).
    expect(outA[0].occlusion!.inpainted).toBeDefined();
    expect(outB[0].occlusion!.inpainted).toBeDefined();
    expect(outA[0].occlusion!.inpainted!.data).not.toEqual(outB[0].occlusion!.inpainted!.data);
    expect(outA[0].occlusion!.inpainted!.data).toEqual((await new FillInpainter().inpaint([alignedFace(a).crop], [outA[0].occlusion!.mask!]))[0].data);
    await repairer.close();
  });

  it('a failing model leaves the faces as they came, and never throws', async () => {
    const image = frameImage(true);
    const face = alignedFace(image);
    const segmenter = new GreenSegmenter();
    segmenter.fail = true;
    expect(await new FaceRepairer(segmenter, new FillInpainter(), SETTINGS).repair(image, [face], recognizer.template, noClock)).toEqual([{ ...face, route: 'clean' }]);
    const inpainter = new FillInpainter();
    inpainter.fail = true;
    const [out] = await new FaceRepairer(new GreenSegmenter(), inpainter, SETTINGS).repair(image, [face], recognizer.template, noClock);
    expect(out.occlusion!.fraction).toBeGreaterThan(0.2);
    expect(out.occlusion!.inpainted).toBeUndefined();
    expect(out.recognizerCrop).toBe(face.recognizerCrop);
  });
});

/** Gives the face's landmarks `dy` pixels lower than the detector's, and remembers the boxes it was asked about. */
class ShiftedLandmarker implements Landmarker {
  readonly id = 'fake-landmarks';
  boxes: Box[] = [];
  fail = false;
  constructor(private readonly dy: number) {}
  async locate(_image: RgbImage, box: Box): Promise<Point[]> {
    if (this.fail) throw new Error('landmarker broke');
    this.boxes.push(box);
    return landmarks().map((p) => ({ x: p.x, y: p.y + this.dy }));
  }
}

describe('FaceRepairer with a landmarker', () => {
  it('segments and inpaints the crop cut on the landmarker’s points, and judges the face area on them', async () => {
    const image = frameImage(true);
    const face = alignedFace(image);
    const landmarker = new ShiftedLandmarker(15);
    const inpainter = new FillInpainter();
    const [out] = await new FaceRepairer(new GreenSegmenter(), inpainter, SETTINGS, landmarker).repair(image, [face], recognizer.template, noClock);
    expect(landmarker.boxes).toEqual([BOX]);
    const shifted = landmarks().map((p) => ({ x: p.x, y: p.y + 15 }));
    // The upper-face stage reuses them rather than running the model again.
    expect(out.occlusion!.located).toEqual({ by: 'fake-landmarks', points: shifted });
    // The alert's face is the crop the segmenter saw, so that it lines up with the mask and the repair.
    expect(out.crop.data).toEqual(alignToTemplate(image, shifted, INPAINT_TEMPLATE).crop.data);
    expect(out.crop.data).not.toEqual(face.crop.data);
    const [mask] = inpainter.masks;
    for (let p = 0; p < mask.length; p++) expect(mask[p]).toBe(isGreen(out.crop, p) ? 1 : 0);
    const [alone] = await new FaceRepairer(new GreenSegmenter(), new FillInpainter(), SETTINGS).repair(image, [face], recognizer.template, noClock);
    expect(out.occlusion!.fraction).not.toBeCloseTo(alone.occlusion!.fraction, 2);
    // The recognizer's crop is still cut on the detector's landmarks (its template was measured on them).
    expect(out.recognizerCrop).toMatchObject({ width: 150, height: 150 });
    expect(countGreen(out.recognizerCrop)).toBeLessThan(countGreen(face.recognizerCrop) * 0.05);
    expect(out.occlusion!.unrepairedCrop).toBe(face.recognizerCrop);
  });

  it('a failing landmarker leaves the segmenter the align stage’s crop, and never throws', async () => {
    const image = frameImage(true);
    const face = alignedFace(image);
    const landmarker = new ShiftedLandmarker(15);
    landmarker.fail = true;
    const [out] = await new FaceRepairer(new GreenSegmenter(), new FillInpainter(), SETTINGS, landmarker).repair(image, [face], recognizer.template, noClock);
    const [alone] = await new FaceRepairer(new GreenSegmenter(), new FillInpainter(), SETTINGS).repair(image, [face], recognizer.template, noClock);
    expect(out.crop).toBe(face.crop);
    expect(out.occlusion!.located).toBeUndefined();
    expect(out.occlusion!.fraction).toBe(alone.occlusion!.fraction);
    expect(out.occlusion!.inpainted!.data).toEqual(alone.occlusion!.inpainted!.data);
  });
});

describe('holeInFrame', () => {
  it('carries a crop mask into the frame through the crop transform', () => {
    const mask = new Uint8Array(128 * 128);
    for (let v = 64; v < 96; v++) for (let u = 32; u < 64; u++) mask[v * 128 + u] = 1;
    // frame → crop: halve and shift by (−10, −20): crop (32…64, 64…96) is frame (84…148, 168…232).
    const hole = holeInFrame(mask, 128, 300, 300, { a: 0.5, b: 0, tx: -10, ty: -20 });
    let n = 0;
    for (let y = 0; y < 300; y++) for (let x = 0; x < 300; x++) if (hole[y * 300 + x]) {
      n++;
      expect(x >= 84 && x < 148 && y >= 168 && y < 232).toBe(true);
    }
    expect(n).toBe(64 * 64);
  });
});

describe('the pipeline with a repairer', () => {
  const ada: Identity = { id: 1, name: 'Ada' };

  /** The alerts of 8 frames of one face, occluded or not, each face matched as Ada with the score `scoreOf` gives its embedding. */
  async function alertsOf(
    occluded: boolean,
    scoreOf: (embedding: Float32Array) => number,
    occludedMargin?: number,
    upperFaceScore?: number,
  ): Promise<AlertMessage[]> {
    const config = parseConfig({
      match: { threshold: 0.85, unknownThreshold: 0.8, cooldownSec: 0, occludedMargin, upperFace: { threshold: 0.6 } },
      track: { minQuality: 0.3 },
    });
    const detector: Detector = { id: 'fake', detect: async () => [{ box: BOX, score: 0.99, landmarks: landmarks() }] };
    const alerts: AlertMessage[] = [];
    const pipeline = new Pipeline({
      config,
      detector,
      recognizer,
      // The upper face on, as match.upperFace.enabled has it: faces covered below the eyes take that route.
      repairer: new FaceRepairer(new GreenSegmenter(), new FillInpainter(), { ...SETTINGS, upperFace: true }),
      upperFace: { recognizer: upperFaceView(recognizer, 0.5) },
      gallery: {
        search: (e) => [{ identity: ada, score: scoreOf(e) }],
        ...(upperFaceScore === undefined ? {} : { searchUpperFace: () => [{ identity: ada, score: upperFaceScore }] }),
        identity: () => ada,
      },
      publish: (a) => alerts.push(a),
    });
    const source = new Subject<Frame>();
    pipeline.addCamera('cam', source);
    for (let seq = 0; seq < 8; seq++) {
      source.next({ camera: 'cam', seq, time: 1_000_000 + seq * 200, image: frameImage(occluded, seq + 1) });
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 100));
    source.complete();
    pipeline.stop();
    return alerts;
  }

  it('an occluded face needs match.occludedMargin more similarity to be named; a clean one does not', async () => {
    const alertsAt = (score: number, occluded: boolean, margin: number) => alertsOf(occluded, () => score, margin);
    // 0.855 passes the 0.85 threshold, 0.855 − 0.01 does not.
    expect((await alertsAt(0.855, false, 0.01)).map((a) => a.identity?.name)).toEqual(['Ada']);
    expect(await alertsAt(0.855, true, 0.01)).toEqual([]);
    const named = await alertsAt(0.855, true, 0);
    expect(named.map((a) => a.identity?.name)).toEqual(['Ada']);
    expect(named[0].matchedOn).toBe('face');
    expect(named[0].occludedFraction).toBeGreaterThan(0.2);
    const withMargin = await alertsAt(0.9, true, 0.01);
    expect(withMargin[0].score).toBeCloseTo(0.89, 6);
  });

  it('an occluded face alerts with the occluded fraction, the inpainted face and its mask', async () => {
    // Ada is red: the repaired face (red fill) matches her, the green block does not.
    const alerts = await alertsOf(true, (e) => e[0] / Math.hypot(...e));
    expect(alerts).toHaveLength(1);
    const [a] = alerts;
    expect(a.identity).toEqual(ada);
    expect(a.occludedFraction).toBeGreaterThan(0.2);
    expect(Buffer.from(a.inpaintedJpeg!, 'base64').subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(Buffer.from(a.occlusionMaskPng!, 'base64').subarray(1, 4).toString()).toBe('PNG');
  });

  it('a face covered below the eyes is named from its upper face, that score moved onto match.threshold', async () => {
    // Its main matches (0.7) are far below 0.85; the upper face scores 0.8, half way from its threshold 0.6 to 1.
    const named = await alertsOf(true, () => 0.7, 0.01, 0.8);
    expect(named.map((a) => a.identity?.name)).toEqual(['Ada']);
    expect(named[0].score).toBeCloseTo(0.925, 6);
    expect(named[0].matchedOn).toBe('upper-face'); // the operator sees how the name was found
    expect(await alertsOf(true, () => 0.99, 0.01, 0.55)).toEqual([]); // below its threshold: the whole face does not count
    expect(await alertsOf(true, () => 0.7, 0.01)).toEqual([]); // no upper-face gallery: not used
    expect(await alertsOf(false, () => 0.7, 0.01, 0.65)).toEqual([]); // a clean face is not matched on its upper face
  });
});
