// face-api's FaceLandmark68Net ported to ONNX (models/faceapi/landmark68.onnx, made by
// training/ports/faceapi_to_onnx.py), on onnxruntime-node. It reproduces what face-api on tfjs does
// with a detector's box (FaceApiDetector.landmarksOn in detector.ts): extractFaceTensors cuts the box,
// clipped to the image and floored, out of the image; the net's detectLandmarks pads it to a square with
// zeros (padToSquare, centred), resizes it to 112×112 (tf.image.resizeBilinear, alignCorners and
// halfPixelCenters false) and maps the 68 points back (postProcess, then shiftBy the cut's corner).
// The graph takes raw RGB 0–255 and normalises inside; its output is the net's: x, y interleaved, as
// fractions of the 112×112 input. test/integration/faceapi-onnx.test.ts checks the points against tfjs.
import type { Box, Point, RgbImage } from '../types.ts';
import { singleIo, type OnnxRunner } from '../models/runner.ts';
import type { Closable, Landmarker } from '../models/types.ts';
import { openVendoredModel } from '../models/files.ts';

/** The net's input side. */
export const LANDMARK_INPUT_SIZE = 112;
const POINTS = 68;
/** Faces per run: bounds the tensor a crowded frame makes (112×112×3 floats a face). */
const MAX_BATCH = 32;

/**
 * The part of `box` that face-api cuts out of a `width`×`height` image (Box.clipAtImageBorders, then
 * floor): whole pixels, possibly empty when the box lies outside the image.
 */
export function faceRegion(box: Box, width: number, height: number): Box {
  const x = Math.max(box.x, 0), y = Math.max(box.y, 0);
  const w = Math.min(box.x + box.width - x, width - x), h = Math.min(box.y + box.height - y, height - y);
  return { x: Math.floor(x), y: Math.floor(y), width: Math.floor(w), height: Math.floor(h) };
}

/**
 * face-api's padToSquare(…, isCenterImage = true) of a `width`×`height` cut: the side of the square and
 * the zero rows (or columns) put before and after the shorter side — round(diff / 2) after, the rest
 * before, so an odd difference puts the extra one after.
 */
export function squarePadding(width: number, height: number): { side: number; axis: 'x' | 'y'; before: number; after: number } {
  const diff = Math.abs(height - width);
  const after = Math.round(diff * 0.5);
  return { side: Math.max(width, height), axis: height > width ? 'x' : 'y', before: diff - after, after };
}

/**
 * The net's input for one face: `region` of `image` padded to a square with zeros as face-api pads it,
 * resized to size×size as tf.image.resizeBilinear(alignCorners = false, halfPixelCenters = false)
 * samples — output pixel u reads the square at u · side / size (not at pixel centres as
 * src/align/resize.ts does), between the two neighbouring pixels, the second clamped to the last —
 * planar RGB (CHW), 0–255 unrounded, written into `out` at `offset`.
 */
export function landmarkInput(image: RgbImage, region: Box, size = LANDMARK_INPUT_SIZE, out = new Float32Array(3 * size * size), offset = 0): Float32Array {
  const { x: rx, y: ry, width: w, height: h } = region;
  if (!(w >= 1 && h >= 1) || rx < 0 || ry < 0 || rx + w > image.width || ry + h > image.height)
    throw new RangeError(`the face region ${w}×${h} at (${rx}, ${ry}) is not inside the ${image.width}×${image.height} image`);
  const pad = squarePadding(w, h);
  const side = pad.side;
  const padX = pad.axis === 'x' ? pad.before : 0, padY = pad.axis === 'y' ? pad.before : 0;
  const scale = side / size;
  // Per output column (and row): the two taps in the image (−1: a padding pixel, zero) and the weight of the second.
  const taps = (padBefore: number, extent: number) => {
    const t0 = new Int32Array(size), t1 = new Int32Array(size), frac = new Float64Array(size);
    for (let u = 0; u < size; u++) {
      const src = u * scale;
      const i0 = Math.floor(src), i1 = Math.min(i0 + 1, side - 1);
      frac[u] = src - i0;
      const inside = (i: number) => (i - padBefore >= 0 && i - padBefore < extent ? i - padBefore : -1);
      t0[u] = inside(i0);
      t1[u] = inside(i1);
    }
    return { t0, t1, frac };
  };
  const cols = taps(padX, w), rows = taps(padY, h);
  const plane = size * size;
  const { data, width: iw } = image;
  const pixel = (row: number, col: number, c: number) => (row < 0 || col < 0 ? 0 : data[((ry + row) * iw + rx + col) * 3 + c]);
  for (let v = 0; v < size; v++) {
    const r0 = rows.t0[v], r1 = rows.t1[v], fy = rows.frac[v];
    for (let u = 0; u < size; u++) {
      const c0 = cols.t0[u], c1 = cols.t1[u], fx = cols.frac[u];
      const o = offset + v * size + u;
      for (let c = 0; c < 3; c++) {
        const tl = pixel(r0, c0, c), tr = pixel(r0, c1, c), bl = pixel(r1, c0, c), br = pixel(r1, c1, c);
        const top = tl + (tr - tl) * fx, bottom = bl + (br - bl) * fx;
        out[o + c * plane] = top + (bottom - top) * fy;
      }
    }
  }
  return out;
}

/**
 * The net's 136 outputs (fractions of the padded, resized square) in the image's pixels: face-api's
 * postProcess (× size, less the padding it assumes — half the difference on each side — over the
 * resized cut's side) and FaceLandmarks68.shiftBy(region.x, region.y).
 */
export function landmarksInImage(output: ArrayLike<number>, region: Box, size = LANDMARK_INPUT_SIZE): Point[] {
  if (output.length !== 2 * POINTS) throw new Error(`the landmark net gave ${output.length} values, expected ${2 * POINTS} (68 points)`);
  const { width, height } = region;
  const scale = size / Math.max(width, height);
  const sw = width * scale, sh = height * scale;
  const padX = sw < sh ? Math.abs(sw - sh) / 2 : 0, padY = sh < sw ? Math.abs(sw - sh) / 2 : 0;
  const points: Point[] = [];
  for (let i = 0; i < POINTS; i++)
    points.push({ x: ((output[2 * i] * size - padX) / sw) * width + region.x, y: ((output[2 * i + 1] * size - padY) / sh) * height + region.y });
  return points;
}

export class FaceApiOnnxLandmarker implements Landmarker, Closable {
  readonly id = 'faceapi-landmark68';
  private readonly io: { input: string; output: string };

  constructor(private readonly runner: OnnxRunner) {
    this.io = singleIo(runner, "face-api's landmark model");
  }

  /** The model in this thread (the service runs it in its model pool instead). */
  static async load(path?: string): Promise<FaceApiOnnxLandmarker> {
    return new FaceApiOnnxLandmarker(await openVendoredModel('landmarks', path));
  }

  async locate(image: RgbImage, box: Box): Promise<Point[]> {
    return (await this.locateMany(image, [box]))[0];
  }

  /** The landmarks of every box, all in one run (up to 32 faces a run). */
  async locateMany(image: RgbImage, boxes: Box[]): Promise<Point[][]> {
    const regions = boxes.map((box) => {
      const region = faceRegion(box, image.width, image.height);
      if (region.width < 1 || region.height < 1)
        throw new RangeError(`the box ${box.width}×${box.height} at (${box.x}, ${box.y}) has no whole pixel inside the ${image.width}×${image.height} image`);
      return region;
    });
    const size = LANDMARK_INPUT_SIZE, plane = 3 * size * size;
    const out: Point[][] = [];
    for (let start = 0; start < regions.length; start += MAX_BATCH) {
      const batch = regions.slice(start, start + MAX_BATCH);
      const input = new Float32Array(batch.length * plane);
      batch.forEach((region, i) => landmarkInput(image, region, size, input, i * plane));
      const result = await this.runner.run({ [this.io.input]: { data: input, dims: [batch.length, 3, size, size] } });
      const data = result[this.io.output].data;
      if (data.length !== batch.length * 2 * POINTS) throw new Error(`the landmark net gave ${data.length} values for ${batch.length} faces`);
      batch.forEach((region, i) => out.push(landmarksInImage(data.subarray(i * 2 * POINTS, (i + 1) * 2 * POINTS), region, size)));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.runner.close();
  }
}
