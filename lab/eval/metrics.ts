// Image quality against ground truth: PSNR and SSIM on 8-bit RGB images, as the paper's Table II.
import type { RgbImage } from '../../src/types.ts';

/** Peak value of 8-bit samples. */
const PEAK = 255;

function checkSameShape(a: RgbImage, b: RgbImage): void {
  if (a.width !== b.width || a.height !== b.height)
    throw new RangeError(`images differ in size: ${a.width}×${a.height} and ${b.width}×${b.height}`);
  const expected = a.width * a.height * 3;
  if (a.data.length !== expected || b.data.length !== expected)
    throw new RangeError(`RGB data of a ${a.width}×${a.height} image must have ${expected} bytes, got ${a.data.length} and ${b.data.length}`);
}

/**
 * Peak signal-to-noise ratio in dB over every sample of the three channels: 10·log10(255² / MSE).
 * Identical images give Infinity.
 */
export function psnr(a: RgbImage, b: RgbImage): number {
  checkSameShape(a, b);
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i] - b.data[i];
    sum += d * d;
  }
  const mse = sum / a.data.length;
  return mse === 0 ? Infinity : 10 * Math.log10((PEAK * PEAK) / mse);
}

/** SSIM's constants (Wang et al. 2004): an 11×11 Gaussian window of σ 1.5, K1 0.01, K2 0.03. */
const SSIM_SIGMA = 1.5;
const SSIM_RADIUS = 5;
const C1 = (0.01 * PEAK) ** 2;
const C2 = (0.03 * PEAK) ** 2;

/** The normalised 1-D Gaussian taps; the 2-D window is their outer product (separable). */
function gaussianTaps(): Float64Array {
  const taps = new Float64Array(2 * SSIM_RADIUS + 1);
  let total = 0;
  for (let k = -SSIM_RADIUS; k <= SSIM_RADIUS; k++) {
    taps[k + SSIM_RADIUS] = Math.exp((-0.5 * k * k) / (SSIM_SIGMA * SSIM_SIGMA));
    total += taps[k + SSIM_RADIUS];
  }
  for (let i = 0; i < taps.length; i++) taps[i] /= total;
  return taps;
}
const TAPS = gaussianTaps();

/**
 * Gaussian-weighted mean of `plane` (width×height) at every pixel whose window lies wholly inside
 * the image: a (width − 10)×(height − 10) result. Only those pixels enter the SSIM mean (as in
 * skimage, which crops the window's radius from the border), so no edge padding is needed.
 */
function filterValid(plane: Float64Array, width: number, height: number): Float64Array {
  const innerW = width - 2 * SSIM_RADIUS, innerH = height - 2 * SSIM_RADIUS;
  const rows = new Float64Array(innerW * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < innerW; x++) {
      let s = 0;
      for (let k = 0; k < TAPS.length; k++) s += TAPS[k] * plane[y * width + x + k];
      rows[y * innerW + x] = s;
    }
  }
  const out = new Float64Array(innerW * innerH);
  for (let y = 0; y < innerH; y++) {
    for (let x = 0; x < innerW; x++) {
      let s = 0;
      for (let k = 0; k < TAPS.length; k++) s += TAPS[k] * rows[(y + k) * innerW + x];
      out[y * innerW + x] = s;
    }
  }
  return out;
}

/** Mean SSIM of one channel (0, 1 or 2). */
function channelSsim(a: RgbImage, b: RgbImage, channel: number): number {
  const n = a.width * a.height;
  const x = new Float64Array(n), y = new Float64Array(n);
  const xx = new Float64Array(n), yy = new Float64Array(n), xy = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const p = a.data[i * 3 + channel], q = b.data[i * 3 + channel];
    x[i] = p; y[i] = q; xx[i] = p * p; yy[i] = q * q; xy[i] = p * q;
  }
  const [mx, my, mxx, myy, mxy] = [x, y, xx, yy, xy].map((plane) => filterValid(plane, a.width, a.height));
  let total = 0;
  for (let i = 0; i < mx.length; i++) {
    // Population (not sample) covariances, as Wang et al.'s reference.
    const vx = mxx[i] - mx[i] * mx[i];
    const vy = myy[i] - my[i] * my[i];
    const cxy = mxy[i] - mx[i] * my[i];
    total += ((2 * mx[i] * my[i] + C1) * (2 * cxy + C2)) / ((mx[i] * mx[i] + my[i] * my[i] + C1) * (vx + vy + C2));
  }
  return total / mx.length;
}

/**
 * Structural similarity (Wang et al. 2004) with an 11×11 Gaussian window (σ 1.5), K1 0.01,
 * K2 0.03, L 255, computed per channel and averaged; matches skimage's structural_similarity with
 * gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1.
 */
export function ssim(a: RgbImage, b: RgbImage): number {
  checkSameShape(a, b);
  if (a.width <= 2 * SSIM_RADIUS || a.height <= 2 * SSIM_RADIUS)
    throw new RangeError(`SSIM needs images larger than its ${2 * SSIM_RADIUS + 1}×${2 * SSIM_RADIUS + 1} window, got ${a.width}×${a.height}`);
  return (channelSsim(a, b, 0) + channelSsim(a, b, 1) + channelSsim(a, b, 2)) / 3;
}
