import { describe, expect, it } from 'vitest';
import { applySimilarity, type Similarity } from '../../src/align/similarity.ts';
import { ARCFACE_TEMPLATE, FACEAPI_RECOGNIZER_TEMPLATE } from '../../src/align/templates.ts';
import { FACEPLUGIN_GEOMETRY } from '../../lab/eval/recognizers/faceplugin.ts';
import { arcFaceInput } from '../../src/embed/arcface.ts';
import { FACERES_GEOMETRY } from '../../lab/eval/recognizers/faceres.ts';
import { checkChips, chipToPhoto, cutChip, templateGeometry, type ChipGeometry } from '../../lab/eval/recognizers/types.ts';
import type { Point, RgbImage } from '../../src/types.ts';

const ARCFACE_112_POINTS = ARCFACE_TEMPLATE.points;

// A face in a 300×300 photo: chip space → photo by a rotation of 0.3 rad, scale 1.4, shift (60, 40).
const CHIP_TO_PHOTO: Similarity = { a: 1.4 * Math.cos(0.3), b: 1.4 * Math.sin(0.3), tx: 60, ty: 40 };
const toPhoto = (p: Point) => applySimilarity(CHIP_TO_PHOTO, p);

/**
 * 68 landmarks whose averaged five points are the geometry's template points carried into the photo;
 * the eye corners 36, 39, 42, 45 are put far off, so a geometry that used them would miss.
 */
function landmarksFor(points: readonly Point[], groups: number[][]): Point[] {
  const landmarks: Point[] = Array.from({ length: 68 }, () => ({ x: 0, y: 0 }));
  for (const i of [36, 39, 42, 45]) landmarks[i] = { x: 290, y: 290 };
  groups.forEach((indices, k) => indices.forEach((i) => (landmarks[i] = toPhoto(points[k]))));
  return landmarks;
}

const FACEPLUGIN_GROUPS = [[37, 38, 40, 41], [43, 44, 46, 47], [30], [48, 60], [54, 64]];

function photoWithDot(at: Point, size = 300): RgbImage {
  const data = new Uint8Array(size * size * 3).fill(20);
  for (let dy = -2; dy <= 2; dy++)
    for (let dx = -2; dx <= 2; dx++) data.fill(250, ((Math.floor(at.y) + dy) * size + Math.floor(at.x) + dx) * 3, ((Math.floor(at.y) + dy) * size + Math.floor(at.x) + dx) * 3 + 3);
  return { width: size, height: size, data };
}

function brightestCentroid(image: RgbImage): Point {
  let sx = 0, sy = 0, n = 0;
  for (let i = 0; i < image.width * image.height; i++)
    if (image.data[i * 3] > 200) {
      sx += (i % image.width) + 0.5;
      sy += Math.floor(i / image.width) + 0.5;
      n++;
    }
  return { x: sx / n, y: sy / n };
}

describe('recognizer chip geometry', () => {
  it("faceplugin: eye centres from the eyelid points (not the corners), mouth corners with the inner lip's", () => {
    const landmarks = landmarksFor(ARCFACE_112_POINTS, FACEPLUGIN_GROUPS);
    const back = chipToPhoto(FACEPLUGIN_GEOMETRY, landmarks);
    for (const [k, p] of ARCFACE_112_POINTS.entries()) {
      const expected = toPhoto(p), got = applySimilarity(back, p);
      expect(got.x, `point ${k}`).toBeCloseTo(expected.x, 6);
      expect(got.y, `point ${k}`).toBeCloseTo(expected.y, 6);
    }
  });

  it.each<[string, ChipGeometry, number[][], number]>([
    ['faceplugin', FACEPLUGIN_GEOMETRY, FACEPLUGIN_GROUPS, 2],
    ['faceres', FACERES_GEOMETRY, [[36, 37, 38, 39, 40, 41], [42, 43, 44, 45, 46, 47], [30], [48], [54]], 2],
  ])('%s: a dot on the nose tip lands on the template nose in the chip', (_name, geometry, groups, noseIndex) => {
    // faceres averages all six eye points, corners included: put the corners where the centre is.
    const landmarks = landmarksFor(geometry.points, groups);
    const nose = toPhoto(geometry.points[noseIndex]);
    const chip = cutChip(photoWithDot(nose), landmarks, geometry);
    expect(chip.width).toBe(geometry.size);
    const at = brightestCentroid(chip);
    expect(Math.abs(at.x - geometry.points[noseIndex].x)).toBeLessThan(1);
    expect(Math.abs(at.y - geometry.points[noseIndex].y)).toBeLessThan(1);
  });

  it('faceapi: the dlib template as a geometry picks its five landmark indices', () => {
    const geometry = templateGeometry(FACEAPI_RECOGNIZER_TEMPLATE);
    const landmarks = Array.from({ length: 68 }, (_, i) => ({ x: i, y: 2 * i }));
    expect(geometry.sourcePoints(landmarks)).toEqual(FACEAPI_RECOGNIZER_TEMPLATE.landmarkGroups.map(([i]) => ({ x: i, y: 2 * i })));
    expect(() => geometry.sourcePoints(landmarks.slice(5))).toThrow(/expected 68 landmarks, got 63/);
    expect(() => FACEPLUGIN_GEOMETRY.sourcePoints(landmarks.slice(5))).toThrow(/expected 68 landmarks, got 63/);
  });

  it('shows the restored pixels exactly where the chip falls in the hole, and the photo elsewhere', () => {
    const landmarks = landmarksFor(ARCFACE_112_POINTS, FACEPLUGIN_GROUPS);
    const photo: RgbImage = { width: 300, height: 300, data: new Uint8Array(300 * 300 * 3).fill(100) };
    // A 128 "crop" that is the photo's region from (50, 50) at scale 2, restored to 200, hole = its left half.
    const photoToCrop: Similarity = { a: 0.5, b: 0, tx: -25, ty: -25 };
    const crop: RgbImage = { width: 128, height: 128, data: new Uint8Array(128 * 128 * 3).fill(200) };
    const hole = new Uint8Array(128 * 128);
    for (let y = 0; y < 128; y++) for (let x = 0; x < 64; x++) hole[y * 128 + x] = 1;
    const chip = cutChip(photo, landmarks, FACEPLUGIN_GEOMETRY, { crop, hole, photoToCrop });
    const back = chipToPhoto(FACEPLUGIN_GEOMETRY, landmarks);
    let inHole = 0;
    for (let v = 0; v < 112; v++)
      for (let u = 0; u < 112; u++) {
        const q = applySimilarity(photoToCrop, applySimilarity(back, { x: u + 0.5, y: v + 0.5 }));
        const expected = q.x >= 0 && q.x < 64 && q.y >= 0 && q.y < 128 ? 200 : 100;
        if (expected === 200) inHole++;
        expect(chip.data[(v * 112 + u) * 3]).toBe(expected);
      }
    expect(inHole).toBeGreaterThan(100);
    expect(inHole).toBeLessThan(112 * 112 - 100);
    // GT: no restored crop, the photo only.
    expect(cutChip(photo, landmarks, FACEPLUGIN_GEOMETRY).data.every((v) => v === 100)).toBe(true);
  });

  it('refuses a hole of the wrong size and chips of the wrong size', () => {
    const landmarks = landmarksFor(ARCFACE_112_POINTS, FACEPLUGIN_GROUPS);
    const photo: RgbImage = { width: 300, height: 300, data: new Uint8Array(300 * 300 * 3) };
    const crop: RgbImage = { width: 128, height: 128, data: new Uint8Array(128 * 128 * 3) };
    expect(() => cutChip(photo, landmarks, FACEPLUGIN_GEOMETRY, { crop, hole: new Uint8Array(10), photoToCrop: { a: 1, b: 0, tx: 0, ty: 0 } })).toThrow(
      /hole has 10 values, the 128×128 crop has 16384 pixels/,
    );
    expect(() => checkChips('faceplugin', [crop], 112)).toThrow(/faceplugin takes 112×112 chips, got 128×128/);
  });
});

describe('arcFaceInput', () => {
  it('is (v − 127) / 128 per channel, planar RGB', () => {
    const chip: RgbImage = { width: 2, height: 1, data: Uint8Array.of(255, 127, 0, 63, 191, 127) };
    expect(Array.from(arcFaceInput(chip))).toEqual([1, -0.5, 0, 0.5, -127 / 128, 0]);
  });
});
