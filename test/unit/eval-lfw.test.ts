import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FACEAPI_RECOGNIZER_TEMPLATE, INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { balancedSubset } from '../../lab/cli/eval.ts';
import { cosineSimilarity, GT_CONDITION, imageKey, OCC_CONDITION, runLfwEval, TELEA_CONDITION } from '../../lab/eval/lfw.ts';
import { templateGeometry, type EvalRecognizer } from '../../lab/eval/recognizers/types.ts';
import { resultsMarkdown } from '../../lab/eval/report.ts';
import { parsePairs } from '../../lab/eval/pairs.ts';
import type { Detector } from '../../src/models/types.ts';
import type { DetectedFace, Point, RgbImage } from '../../src/types.ts';

describe('cosineSimilarity', () => {
  it('is 1 for parallel, 0 for orthogonal, and refuses zero vectors', () => {
    expect(cosineSimilarity(Float32Array.of(1, 2), Float32Array.of(2, 4))).toBeCloseTo(1);
    expect(cosineSimilarity(Float32Array.of(1, 0), Float32Array.of(0, 3))).toBeCloseTo(0);
    expect(() => cosineSimilarity(Float32Array.of(0, 0), Float32Array.of(1, 0))).toThrow(/all-zero/);
  });
});

describe('balancedSubset', () => {
  it('takes the first matched and mismatched pairs in equal numbers', () => {
    const pairs = parsePairs(['3', 'A\t1\t2', 'B\t1\t2', 'C\t1\t2', 'A\t1\tB\t1', 'B\t2\tC\t1', 'C\t2\tA\t2'].join('\n')).pairs;
    expect(balancedSubset(pairs, 4).map((p) => p.line)).toEqual([2, 3, 5, 6]);
  });
});

// A synthetic LFW: four people, each a colour; the fake recognizer embeds the chip's mean colour
// less mid-grey. The colours point to a tetrahedron's corners (every two people at cosine −1/3),
// so that clean pairs are perfectly separable in every fold.
const COLOURS: Record<string, [number, number, number]> = { Ann: [188, 188, 188], Bob: [188, 68, 68], Cid: [68, 188, 68], Dee: [68, 68, 188] };
const SIZE = 100;

function decodeFake(bytes: Uint8Array): Promise<RgbImage> {
  const [r, g, b] = JSON.parse(Buffer.from(bytes).toString('utf8')) as number[];
  const data = new Uint8Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++)
    for (let x = 0; x < SIZE; x++) data.set([r, g, b].map((v) => v + Math.round((x + y) / 10)), (y * SIZE + x) * 3);
  return Promise.resolve({ width: SIZE, height: SIZE, data });
}

/** Finds the face at the template's place, except on Dee's second image (as an SSD miss). */
const fakeDetector: Detector = {
  id: 'fake-detector',
  async detect(image) {
    // detectWithBorder pads a quarter of the side on each side: undo that to know the photo.
    const pad = (image.width - SIZE) / 2;
    const landmarks: Point[] = Array.from({ length: 68 }, () => ({ x: pad + SIZE / 2, y: pad + SIZE / 2 }));
    INPAINT_TEMPLATE.landmarkGroups.forEach(([index], k) => {
      landmarks[index] = { x: pad + (INPAINT_TEMPLATE.points[k].x * SIZE) / 128, y: pad + (INPAINT_TEMPLATE.points[k].y * SIZE) / 128 };
    });
    const face: DetectedFace = { box: { x: pad, y: pad, width: SIZE, height: SIZE }, score: 0.9, landmarks };
    return image.data[(pad * image.width + pad) * 3 + 2] === 189 ? [] : [face];
  },
};

const fakeRecognizer: EvalRecognizer = {
  id: 'fake-colour',
  version: '1',
  dims: 3,
  description: 'mean colour less grey',
  chip: templateGeometry(FACEAPI_RECOGNIZER_TEMPLATE),
  close: async () => {},
  async embed(crops) {
    return crops.map((crop) => {
      const mean = [0, 0, 0];
      for (let i = 0; i < crop.data.length; i++) mean[i % 3] += crop.data[i];
      return Float32Array.from(mean.map((m) => (m / (crop.data.length / 3)) - 128));
    });
  },
};

describe('runLfwEval', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lfw-eval-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, colour] of Object.entries(COLOURS)) {
    mkdirSync(join(dir, name));
    for (const n of [1, 2]) {
      // Dee's second image is 1 bluer: the fake detector misses exactly it.
      const [r, g, b] = name === 'Dee' && n === 2 ? [colour[0], colour[1], colour[2] + 1] : colour;
      writeFileSync(join(dir, name, `${name}_000${n}.jpg`), JSON.stringify([r, g, b]));
    }
  }
  const pairs = parsePairs(
    ['4', 'Ann\t1\t2', 'Bob\t1\t2', 'Cid\t1\t2', 'Dee\t1\t2', 'Ann\t1\tBob\t1', 'Bob\t2\tCid\t1', 'Cid\t2\tDee\t1', 'Dee\t2\tAnn\t2'].join('\n'),
  ).pairs;

  it('scores every condition, counts the fallback alignment and separates clean pairs perfectly', async () => {
    const { result, figures } = await runLfwEval(
      { lfwDir: dir, pairs, useFileFolds: false, seed: 1, batchSize: 3, decode: decodeFake, montageFaces: 2 },
      { detector: fakeDetector, recognizers: [fakeRecognizer], conditions: [GT_CONDITION, OCC_CONDITION, TELEA_CONDITION] },
    );
    expect(result.n_pairs).toBe(8);
    expect(result.n_images).toBe(8);
    expect(result.detection).toEqual({ detector: 'fake-detector', found: 7, fallback: 1, fallbackImages: ['Dee/Dee_0002.jpg'] });
    expect(Object.keys(result.psnr)).toEqual(['OCC', 'Telea']);
    // Smooth images: Telea restores them far better than the white block, and SSIM agrees.
    expect(result.psnr.Telea).toBeGreaterThan(result.psnr.OCC + 10);
    expect(result.ssim.Telea).toBeGreaterThan(result.ssim.OCC);
    expect(result.accuracy['fake-colour'].GT).toEqual({ mean: 1, std: 0 });
    expect(result.auc['fake-colour'].GT).toBe(1);
    expect(Object.keys(result.accuracy['fake-colour'])).toEqual(['GT', 'OCC', 'Telea']);
    expect(result.computed).toEqual({ landmarks: 8, quality: 16, embeddings: 24 });
    // The montage: two faces, a 128 crop per condition; the OCC crop is white somewhere, GT is not.
    expect(figures.montage.map((row) => row.crops.length)).toEqual([3, 3]);
    expect(figures.montage[0].crops[1].data.some((v, i) => v !== figures.montage[0].crops[0].data[i])).toBe(true);
    const markdown = resultsMarkdown(result, { command: 'unmask eval lfw …', models: {}, figures: {}, seconds: 1 });
    // Table III shaped as the paper's: a row per recognizer, GT last, then the average row.
    expect(markdown).toMatch(/\| fake-colour \| \d+\.\d\d ± \d+\.\d\d \| \d+\.\d\d ± \d+\.\d\d \| 100\.00 ± 0\.00 \|/);
    expect(markdown).toMatch(/\| PSNR \(dB\) \| \d+\.\d{4} \| \d+\.\d{4} \|/);
    expect(markdown).toContain('| VGGFace2 | 89.15 |');
  });

  it('names images by their LFW path', () => {
    expect(imageKey({ name: 'Ann', number: 2 })).toBe('Ann/Ann_0002.jpg');
  });
});
