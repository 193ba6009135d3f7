// Face quality in [0, 1]: how much identity detail a detection is likely to carry. It weights a
// track's vote and picks which frames of a track get a recognition attempt.
//
//   quality = 0.4 · size + 0.4 · sharpness + 0.2 · detector score
//
// Size and sharpness get most of the weight because they bound the detail the recogniser can see
// (it works on ~150 px crops: a 40 px face or a motion-blurred one is upsampled mush). The detector
// score weighs less: every face reaching here already passed detect.minConfidence, so its range is
// narrow, and it mostly says "frontal and unoccluded", which the other two do not measure.
import type { Box, DetectedFace, RgbImage } from '../types.ts';

export const QUALITY_WEIGHTS = { size: 0.4, sharpness: 0.4, score: 0.2 } as const;

/** Face width (pixels) at which the size term saturates: above it the recogniser's crop is downscaled anyway. */
export const FULL_SIZE_WIDTH = 112;

/**
 * The face region is measured on a grid of at most this many cells per side, each the mean of the
 * pixels it covers: sharpness is judged at about the scale the recogniser sees, whatever the face size.
 */
const GRID_CELLS = 64;
/** Pixels read per cell and axis at most, so a huge face costs no more than a 64·4 px one. */
const SAMPLES_PER_CELL = 4;
/**
 * Laplacian variance (grey levels², on the grid) that maps to sharpness 0.5. Calibrated on 20 LFW
 * faces (100 px wide): as published 180–520 (sharpness 0.55–0.78), after a Gaussian blur of σ = 2 px
 * 35–130 (0.19–0.46); the same faces at 40 px give 400–1400, as each pixel then holds more detail.
 */
const SHARPNESS_HALF_VARIANCE = 150;

/** Quality in [0, 1] of one detected face in the image it was detected in. Pure; reads the face region only. */
export function faceQuality(face: DetectedFace, image: RgbImage): number {
  checkImage(image);
  checkBox(face.box);
  const size = sizeTerm(face.box, image);
  const sharpness = size > 0 ? sharpnessTerm(face.box, image) : 0;
  const score = clamp01(face.score);
  return QUALITY_WEIGHTS.size * size + QUALITY_WEIGHTS.sharpness * sharpness + QUALITY_WEIGHTS.score * score;
}

/** Width relative to FULL_SIZE_WIDTH, times the fraction of the box inside the image (a cut face is worth less). */
export function sizeTerm(box: Box, image: RgbImage): number {
  const visible = visibleRegion(box, image);
  if (!visible || box.width <= 0 || box.height <= 0) return 0;
  const visibleFraction = (visible.width * visible.height) / (box.width * box.height);
  return clamp01(box.width / FULL_SIZE_WIDTH) * clamp01(visibleFraction);
}

/**
 * Variance of the 4-neighbour Laplacian of the grey face region, sampled on a grid of at most
 * GRID_CELLS per side, squashed to [0, 1) by v / (v + SHARPNESS_HALF_VARIANCE).
 */
export function sharpnessTerm(box: Box, image: RgbImage): number {
  const variance = laplacianVariance(box, image);
  return variance / (variance + SHARPNESS_HALF_VARIANCE);
}

export function laplacianVariance(box: Box, image: RgbImage): number {
  const region = visibleRegion(box, image);
  if (!region) return 0;
  const cols = Math.min(GRID_CELLS, region.width);
  const rows = Math.min(GRID_CELLS, region.height);
  // The Laplacian needs a cell on each side of the one it is computed at.
  if (cols < 3 || rows < 3) return 0;
  const grid = greyGrid(region, cols, rows, image);

  let sum = 0;
  let sumSquares = 0;
  let count = 0;
  for (let r = 1; r < rows - 1; r++) {
    for (let c = 1; c < cols - 1; c++) {
      const i = r * cols + c;
      const laplacian = grid[i - 1] + grid[i + 1] + grid[i - cols] + grid[i + cols] - 4 * grid[i];
      sum += laplacian;
      sumSquares += laplacian * laplacian;
      count++;
    }
  }
  const mean = sum / count;
  return Math.max(0, sumSquares / count - mean * mean);
}

interface PixelRect {
  x0: number;
  y0: number;
  width: number;
  height: number;
}

/** The integer pixel rectangle of the box inside the image, or null when none of it is. */
function visibleRegion(box: Box, image: RgbImage): PixelRect | null {
  const x0 = Math.max(0, Math.floor(box.x));
  const y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(image.width, Math.ceil(box.x + box.width));
  const y1 = Math.min(image.height, Math.ceil(box.y + box.height));
  if (x1 <= x0 || y1 <= y0) return null;
  return { x0, y0, width: x1 - x0, height: y1 - y0 };
}

/** Mean grey level (BT.601 luma) of each cell of a cols×rows grid over the region, row-major. */
function greyGrid(region: PixelRect, cols: number, rows: number, image: RgbImage): Float64Array {
  const grid = new Float64Array(cols * rows);
  const { data, width } = image;
  for (let r = 0; r < rows; r++) {
    const top = region.y0 + Math.floor((r * region.height) / rows);
    const bottom = region.y0 + Math.floor(((r + 1) * region.height) / rows);
    const yStep = Math.max(1, Math.floor((bottom - top) / SAMPLES_PER_CELL));
    for (let c = 0; c < cols; c++) {
      const left = region.x0 + Math.floor((c * region.width) / cols);
      const right = region.x0 + Math.floor(((c + 1) * region.width) / cols);
      const xStep = Math.max(1, Math.floor((right - left) / SAMPLES_PER_CELL));
      let total = 0;
      let n = 0;
      for (let y = top; y < bottom; y += yStep) {
        let p = (y * width + left) * 3;
        for (let x = left; x < right; x += xStep, p += 3 * xStep) {
          total += 0.299 * data[p] + 0.587 * data[p + 1] + 0.114 * data[p + 2];
          n++;
        }
      }
      grid[r * cols + c] = total / n;
    }
  }
  return grid;
}

function checkImage(image: RgbImage): void {
  const expected = image.width * image.height * 3;
  if (!Number.isInteger(image.width) || !Number.isInteger(image.height) || image.width <= 0 || image.height <= 0)
    throw new RangeError(`faceQuality: image size must be positive integers, got ${image.width}×${image.height}`);
  if (image.data.length !== expected)
    throw new RangeError(
      `faceQuality: image data has ${image.data.length} bytes, expected ${expected} for ${image.width}×${image.height} RGB24`,
    );
}

function checkBox(box: Box): void {
  if (![box.x, box.y, box.width, box.height].every(Number.isFinite))
    throw new RangeError(`faceQuality: face box must be finite numbers, got ${JSON.stringify(box)}`);
}

function clamp01(value: number): number {
  return Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
}
