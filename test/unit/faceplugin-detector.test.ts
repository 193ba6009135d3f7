// faceplugin's detector: the frame as the model takes it, and its outputs as boxes in the frame.
import { describe, expect, it } from 'vitest';
import { clipToImage } from '../../lab/tfjs/detector.ts';
import { DETECTOR_INPUT, decodeDetections, frameInput, photoCanvas } from '../../src/detect/faceplugin-rfb.ts';
import type { RgbImage } from '../../src/types.ts';

function image(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * 3);
  return { width, height, data };
}

describe('frameInput', () => {
  const plane = DETECTOR_INPUT.width * DETECTOR_INPUT.height;

  it('takes the frame at the model size as RGB planes, (v − 127) / 128', () => {
    const input = frameInput(image(DETECTOR_INPUT.width, DETECTOR_INPUT.height, () => [255, 127, 0]));
    expect(input).toHaveLength(3 * plane);
    expect([input[0], input[plane], input[2 * plane]]).toEqual([1, 0, -127 / 128]);
  });

  it('stretches any frame to 320×240: the left half of a half-red frame stays red, the right half stays blue', () => {
    const input = frameInput(image(640, 360, (x) => (x < 320 ? [255, 0, 0] : [0, 0, 255])));
    const at = (c: number, u: number, v: number) => input[c * plane + v * DETECTOR_INPUT.width + u];
    expect([at(0, 10, 100), at(2, 10, 100)]).toEqual([1, -127 / 128]);
    expect([at(0, 310, 100), at(2, 310, 100)]).toEqual([-127 / 128, 1]);
    // The seam falls between columns 159 and 160, blended only there.
    expect(at(0, 158, 100)).toBe(1);
    expect(at(0, 161, 100)).toBe(-127 / 128);
  });
});

describe('decodeDetections', () => {
  it('keeps anchors at minScore or above, in the frame’s pixels, best first, overlaps suppressed', () => {
    // (background, face) scores; corners as fractions of a 200×100 frame.
    const scores = [0.1, 0.9, 0.3, 0.7, 0.05, 0.95, 0.6, 0.4];
    const corners = [
      0.1, 0.1, 0.3, 0.5, // a face
      0.11, 0.12, 0.31, 0.52, // the same face again, weaker: suppressed
      0.6, 0.2, 0.8, 0.7, // another face, the best
      0.4, 0.4, 0.5, 0.5, // below minScore
    ];
    const found = decodeDetections(scores, corners, 200, 100, 0.5);
    expect(found.map((f) => f.score)).toEqual([0.95, 0.9]);
    expect(found[1].box.x).toBeCloseTo(20, 6);
    expect(found[1].box.y).toBeCloseTo(10, 6);
    expect(found[1].box.width).toBeCloseTo(40, 6);
    expect(found[1].box.height).toBeCloseTo(40, 6);
  });

  it('drops empty boxes, and refuses outputs that do not pair up', () => {
    expect(decodeDetections([0, 1], [0.5, 0.5, 0.5, 0.9], 100, 100, 0.5)).toEqual([]);
    expect(() => decodeDetections([0, 1, 0, 1], [0, 0, 1, 1], 100, 100, 0.5)).toThrow(/2 scores but 1 boxes/);
  });
});

describe('clipToImage', () => {
  it('cuts a box reaching over the frame’s edges to whole pixels inside it', () => {
    expect(clipToImage({ x: -10.4, y: 5.7, width: 50, height: 200 }, 100, 100)).toEqual({ x: 0, y: 5, width: 39, height: 94 });
  });
});

describe('photoCanvas', () => {
  it('centres the photo on a 4:3 canvas with the margin around its longer side', () => {
    const canvas = photoCanvas(200, 200, 0.5);
    // 200 + 2 × 100 = 400 high, so 400 × 4/3 wide.
    expect(canvas.height).toBeCloseTo(400);
    expect(canvas.width).toBeCloseTo(400 * (4 / 3));
    expect(canvas.x + canvas.width / 2).toBeCloseTo(100);
    expect(canvas.y + canvas.height / 2).toBeCloseTo(100);
  });

  it('keeps a wide photo whole: the canvas grows in height instead', () => {
    const canvas = photoCanvas(1000, 100, 0);
    expect(canvas.width).toBeCloseTo(1000);
    expect(canvas.height).toBeCloseTo(750);
  });

  it('paints the canvas outside the photo grey (0 after normalisation)', () => {
    const plane = DETECTOR_INPUT.width * DETECTOR_INPUT.height;
    const white = image(100, 100, () => [255, 255, 255]);
    const input = frameInput(white, photoCanvas(100, 100, 0.5));
    const at = (u: number, v: number) => input[v * DETECTOR_INPUT.width + u];
    expect(at(0, 0)).toBe(0); // corner: canvas
    expect(at(DETECTOR_INPUT.width / 2, DETECTOR_INPUT.height / 2)).toBe(1); // centre: the photo
    expect(input).toHaveLength(3 * plane);
  });
});
