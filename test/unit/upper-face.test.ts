// The upper-face view: what it hides, which occlusions it is used for, and the ArcFace model behind it.
import { describe, expect, it } from 'vitest';
import { ARCFACE_TEMPLATE, FACEAPI_RECOGNIZER_TEMPLATE } from '../../src/align/templates.ts';
import { ArcFaceRecognizer } from '../../src/embed/arcface.ts';
import type { Recognizer } from '../../src/models/types.ts';
import { upperFaceCrop, upperFaceView, upperTemplate } from '../../src/embed/upper-face.ts';
import { coveredBelowEyes } from '../../src/repair/occlusion.ts';
import type { RgbImage } from '../../src/types.ts';

const noise = (size: number, seed = 1): RgbImage => {
  let s = seed;
  const data = new Uint8Array(size * size * 3).map(() => ((s = (s * 1103515245 + 12345) >>> 0) >>> 24) & 255);
  return { width: size, height: size, data };
};

describe('upperFaceCrop', () => {
  it('paints every row from the visible height down mid-grey and leaves the rest and the input alone', () => {
    const crop = noise(10);
    const before = Uint8Array.from(crop.data);
    const upper = upperFaceCrop(crop, 0.6);
    expect(crop.data).toEqual(before);
    expect(upper.data.subarray(0, 6 * 10 * 3)).toEqual(before.subarray(0, 6 * 10 * 3));
    expect(upper.data.subarray(6 * 10 * 3).every((v) => v === 128)).toBe(true);
    expect(upperFaceCrop(crop, 1).data).toEqual(before);
  });
});

describe('upperFaceView', () => {
  it('is a recognizer of its own (id, version) that embeds the upper face with the base recognizer', async () => {
    const seen: RgbImage[] = [];
    const base: Recognizer = {
      id: 'base',
      version: '7',
      dims: 2,
      template: FACEAPI_RECOGNIZER_TEMPLATE,
      embed: async (crops) => (seen.push(...crops), crops.map(() => Float32Array.of(1, 0))),
    };
    const view = upperFaceView(base, 0.5);
    expect([view.id, view.version, view.dims]).toEqual(['base+upper-face', '7-dlib-150-p0.25-above0.5', 2]);
    expect(view.template).toEqual(upperTemplate(FACEAPI_RECOGNIZER_TEMPLATE, 0.5));
    expect(upperFaceView(base, 0.6).version).not.toBe(view.version); // a new cut re-embeds the gallery
    await view.embed([noise(4)]);
    expect(Array.from(seen[0].data.subarray(2 * 4 * 3))).toEqual(new Array(2 * 4 * 3).fill(128));
    expect(() => upperFaceView(base, 0)).toThrow(RangeError);
  });
});

describe('upperTemplate', () => {
  it('keeps the points above the visible line: for ArcFace at 0.62 the two eye centres, not nose tip or mouth', () => {
    const eyes = upperTemplate(ARCFACE_TEMPLATE, 0.62);
    expect(eyes).toEqual({
      name: 'arcface-112-faceplugin5-above0.62',
      size: 112,
      landmarkGroups: ARCFACE_TEMPLATE.landmarkGroups.slice(0, 2),
      points: ARCFACE_TEMPLATE.points.slice(0, 2),
    });
    // dlib's: the four eye corners, not the base of the nose.
    expect(upperTemplate(FACEAPI_RECOGNIZER_TEMPLATE, 0.5).landmarkGroups).toEqual([[45], [42], [36], [39]]);
    expect(() => upperTemplate(ARCFACE_TEMPLATE, 0.3)).toThrow(/at least two/);
  });
});

describe('coveredBelowEyes', () => {
  const size = 128;
  const rows = (from: number, to: number) => {
    const mask = new Uint8Array(size * size);
    mask.fill(1, from * size, to * size);
    return mask;
  };
  it('says yes for a mask over nose, mouth and chin that reaches a little above the eye line', () => {
    expect(coveredBelowEyes(rows(60, 110), size)).toBe(true);
    expect(coveredBelowEyes(rows(48, 110), size)).toBe(true); // 5 of 62 rows above row 53
  });
  it('says no for sunglasses or a brim, and for nothing covered', () => {
    expect(coveredBelowEyes(rows(35, 55), size)).toBe(false);
    expect(coveredBelowEyes(rows(0, 40), size)).toBe(false);
    expect(coveredBelowEyes(new Uint8Array(size * size), size)).toBe(false);
  });
});

describe('ArcFaceRecognizer', () => {
  it('loads from the installed package and gives one finite 512-D embedding per crop, the same for the same crop', async () => {
    const recognizer = await ArcFaceRecognizer.load();
    try {
      expect([recognizer.dims, recognizer.template]).toEqual([512, ARCFACE_TEMPLATE]);
      const [a, b, again] = await recognizer.embed([noise(112, 1), noise(112, 2), noise(112, 1)]);
      expect(a).toHaveLength(512);
      expect(a.every(Number.isFinite)).toBe(true);
      expect(again).toEqual(a);
      expect(b).not.toEqual(a);
      await expect(recognizer.embed([noise(64)])).rejects.toThrow(/112×112/);
    } finally {
      await recognizer.close();
    }
  });
});
