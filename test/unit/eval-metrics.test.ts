import { describe, expect, it } from 'vitest';
import { psnr, ssim } from '../../lab/eval/metrics.ts';
import type { RgbImage } from '../../src/types.ts';

function image(width: number, height: number, sample: (x: number, y: number, c: number) => number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = Math.min(255, Math.max(0, sample(x, y, c)));
  return { width, height, data };
}

// A fixed pair, 40×30 (not square, so that a transposition would show), built identically in Python:
//   /usr/bin/python3 -c '
//   import numpy as np
//   from skimage.metrics import structural_similarity, peak_signal_noise_ratio
//   h,w=30,40
//   y,x,c=np.meshgrid(np.arange(h),np.arange(w),np.arange(3),indexing="ij")
//   a=((x*7+y*13+c*50)%256).astype(np.uint8)
//   b=np.clip(a.astype(int)+(x*31+y*17+c*5)%41-20,0,255).astype(np.uint8)
//   print(repr(structural_similarity(a,b,gaussian_weights=True,sigma=1.5,use_sample_covariance=False,data_range=255,channel_axis=-1)))
//   print(repr(peak_signal_noise_ratio(a,b,data_range=255)))'
// (Debian's scikit-image 0.19.3, numpy 1.24.2) printed:
const SKIMAGE_SSIM = 0.9234607994453151;
const SKIMAGE_PSNR = 26.85095981173879;
const base = (x: number, y: number, c: number) => (x * 7 + y * 13 + c * 50) % 256;
const refA = image(40, 30, base);
const refB = image(40, 30, (x, y, c) => base(x, y, c) + ((x * 31 + y * 17 + c * 5) % 41) - 20);

describe('psnr', () => {
  it('is 10·log10(255²/e²) for a uniform error e', () => {
    const a = image(128, 128, (x, y, c) => (x + y + c) % 200);
    const b = image(128, 128, (x, y, c) => ((x + y + c) % 200) + 10);
    expect(psnr(a, b)).toBeCloseTo(10 * Math.log10((255 * 255) / 100), 10);
  });

  it('is infinite for identical images', () => {
    expect(psnr(refA, refA)).toBe(Infinity);
  });

  it('matches skimage on the fixed pair', () => {
    expect(psnr(refA, refB)).toBeCloseTo(SKIMAGE_PSNR, 9);
  });

  it('refuses images of different sizes', () => {
    expect(() => psnr(refA, image(30, 40, base))).toThrow(/differ in size: 40×30 and 30×40/);
  });
});

describe('ssim', () => {
  it('is 1 for identical images', () => {
    expect(ssim(refA, refA)).toBeCloseTo(1, 12);
  });

  it('matches skimage (Gaussian 11×11, σ 1.5, population covariance) on the fixed pair', () => {
    expect(ssim(refA, refB)).toBeCloseTo(SKIMAGE_SSIM, 9);
  });

  it('is symmetric and falls as the error grows', () => {
    const worse = image(40, 30, (x, y, c) => base(x, y, c) + 2 * (((x * 31 + y * 17 + c * 5) % 41) - 20));
    expect(ssim(refB, refA)).toBeCloseTo(ssim(refA, refB), 12);
    expect(ssim(refA, worse)).toBeLessThan(ssim(refA, refB));
  });

  it('refuses images no larger than its window', () => {
    const tiny = image(10, 10, base);
    expect(() => ssim(tiny, tiny)).toThrow(/larger than its 11×11 window/);
  });
});
