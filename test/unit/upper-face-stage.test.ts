// The upper face: which faces take its route, whose eyes their crop is aligned on (the landmarker's,
// the detector's when there is none or it fails), and the landmark model's input and output mapping.
import { describe, expect, it } from 'vitest';
import { ARCFACE_TEMPLATE } from '../../src/align/templates.ts';
import { alignToTemplate } from '../../src/align/warp.ts';
import { greyBoxInput, pointsInImage } from '../../src/detect/faceplugin-landmarks.ts';
import type { Landmarker, Recognizer } from '../../src/models/types.ts';
import { upperFaceView, UpperFaceCutter } from '../../src/embed/upper-face.ts';
import type { Frame, RepairedFace } from '../../src/pipeline/messages.ts';
import { routeOf } from '../../src/repair/occlusion.ts';
import type { Box, Point, RgbImage } from '../../src/types.ts';

const W = 200, H = 200;
const BOX: Box = { x: 50, y: 40, width: 100, height: 120 };

/** A gradient frame, so that crops aligned on different points differ. */
function frame(): RgbImage {
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data.set([x, y, (x * y) % 256], (y * W + x) * 3);
  return { width: W, height: H, data };
}

/** 68 points with both eyes' lids at `eyeY`, the eyes `spread` apart around x = 100. */
function landmarks(eyeY: number, spread = 40): Point[] {
  const pts = Array.from({ length: 68 }, () => ({ x: 100, y: 130 }));
  for (let i = 36; i < 42; i++) pts[i] = { x: 100 - spread / 2, y: eyeY };
  for (let i = 42; i < 48; i++) pts[i] = { x: 100 + spread / 2, y: eyeY };
  return pts;
}

const base: Recognizer = { id: 'base', version: '1', dims: 1, template: ARCFACE_TEMPLATE, embed: async (c) => c.map(() => Float32Array.of(1)) };
const recognizer = upperFaceView(base, 0.62);

function face(occlusion?: RepairedFace['occlusion']): RepairedFace {
  const crop = { width: 1, height: 1, data: Uint8Array.of(0, 0, 0) };
  return {
    observation: { camera: 'cam', frameSeq: 0, frameTime: 0, trackId: 1, face: { box: BOX, score: 1, landmarks: landmarks(90) }, quality: 1 },
    crop,
    recognizerCrop: crop,
    route: routeOf(occlusion, { minFraction: 0.05, upperFace: true }),
    ...(occlusion ? { occlusion } : {}),
  };
}

class FakeLandmarker implements Landmarker {
  readonly id = 'fake-landmarks';
  calls: { image: RgbImage; box: Box }[] = [];
  fail = false;
  async locate(image: RgbImage, box: Box): Promise<Point[]> {
    this.calls.push({ image, box });
    if (this.fail) throw new Error('landmarks broke');
    return landmarks(80, 36);
  }
}

describe('the upper-face route', () => {
  it('is taken only by a face covered below the eyes, more than minFraction, when the upper face is on', () => {
    expect(face({ fraction: 0.3, belowEyes: true }).route).toBe('upper-face');
    expect(face({ fraction: 0.3, belowEyes: false }).route).toBe('repaired');
    expect(face({ fraction: 0.05, belowEyes: true }).route).toBe('clean');
    expect(face().route).toBe('clean');
    expect(routeOf({ fraction: 0.3, belowEyes: true }, { minFraction: 0.05, upperFace: false })).toBe('repaired');
  });
});

describe('UpperFaceCutter', () => {
  const image = frame();
  const camera: Frame = { camera: 'cam', seq: 0, time: 0, image };
  const covered = () => face({ fraction: 0.3, belowEyes: true });

  it("cuts a covered face on the landmarker's eyes, found in the detector's box", async () => {
    const landmarker = new FakeLandmarker();
    const crop = await new UpperFaceCutter(recognizer, landmarker).cut(camera, covered(), () => {});
    expect(landmarker.calls).toEqual([{ image, box: BOX }]);
    expect(crop).toEqual(alignToTemplate(image, landmarks(80, 36), recognizer.template).crop);
    expect(crop).not.toEqual(alignToTemplate(image, landmarks(90), recognizer.template).crop);
  });

  it("uses the detector's landmarks without a landmarker, and when it fails (times it either way)", async () => {
    const detectorCrop = alignToTemplate(image, landmarks(90), recognizer.template).crop;
    expect(await new UpperFaceCutter(recognizer).cut(camera, covered(), () => {})).toEqual(detectorCrop);

    const landmarker = new FakeLandmarker();
    landmarker.fail = true;
    const timed: string[] = [];
    const cutter = new UpperFaceCutter(recognizer, landmarker);
    const out = [await cutter.cut(camera, covered(), (stage) => timed.push(stage)), await cutter.cut(camera, covered(), (stage) => timed.push(stage))];
    expect(out).toEqual([detectorCrop, detectorCrop]);
    expect(timed).toEqual(['landmarks', 'landmarks']);
  });

  it('reuses the landmarks the repair stage located with the same model, and only those', async () => {
    const landmarker = new FakeLandmarker();
    const cutter = new UpperFaceCutter(recognizer, landmarker);
    const byRepair = face({ fraction: 0.3, belowEyes: true, located: { by: landmarker.id, points: landmarks(70, 44) } });
    const reused = await cutter.cut(camera, byRepair, () => {});
    expect(landmarker.calls).toHaveLength(0);
    expect(reused).toEqual(alignToTemplate(image, landmarks(70, 44), recognizer.template).crop);
    const byOther = face({ fraction: 0.3, belowEyes: true, located: { by: 'another-model', points: landmarks(70, 44) } });
    const located = await cutter.cut(camera, byOther, () => {});
    expect(landmarker.calls).toHaveLength(1);
    expect(located).toEqual(alignToTemplate(image, landmarks(80, 36), recognizer.template).crop);
  });
});

describe("the landmark model's input and output", () => {
  it('stretches the box to the input size in grey / 256, taking the edge pixel outside the image', () => {
    const image: RgbImage = { width: 4, height: 2, data: new Uint8Array(4 * 2 * 3) };
    image.data.set([255, 0, 0], 0); // red top-left pixel, the rest black
    image.data.set([0, 0, 255], (1 * 4 + 3) * 3); // blue bottom-right
    const whole = greyBoxInput(image, { x: 0, y: 0, width: 4, height: 2 }, 4);
    // 4×2 → 4×4: output row v samples source row v/2 − 1/4 (pixel centres), clamped to the image.
    expect(whole[0]).toBeCloseTo((0.299 * 255) / 256, 6);
    expect(whole[15]).toBeCloseTo((0.114 * 255) / 256, 6);
    expect(whole[4]).toBeCloseTo(0.75 * whole[0], 6); // row 1 samples source row 0.25
    expect(whole[6]).toBe(0);
    expect(whole[7]).toBeCloseTo(0.25 * whole[15], 6);
    // A box above and left of the image: every sample clamps to the corner pixel.
    const outside = greyBoxInput(image, { x: -10, y: -10, width: 2, height: 1 }, 2);
    expect(Array.from(outside)).toEqual([whole[0], whole[0], whole[0], whole[0]].map((v) => expect.closeTo(v, 6)));
    expect(() => greyBoxInput(image, { x: 0, y: 0, width: 0, height: 2 })).toThrow(RangeError);
  });

  it('maps fractions of the box to image pixels, and refuses an output of the wrong size', () => {
    const out = new Float32Array(136);
    out[0] = 0.5; out[1] = 0.25; out[134] = 1; out[135] = 0;
    const points = pointsInImage(out, BOX);
    expect(points).toHaveLength(68);
    expect(points[0]).toEqual({ x: 100, y: 70 });
    expect(points[67]).toEqual({ x: 150, y: 40 });
    expect(() => pointsInImage(new Float32Array(10), BOX)).toThrow(/136/);
  });
});
