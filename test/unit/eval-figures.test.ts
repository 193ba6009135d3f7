import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { accuracyAxisFloor, accuracyBarsSvg, montageSvg, pickIdentities, svgToPng, tsneSvg } from '../../lab/eval/figures.ts';

const PIXEL = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';

describe('figures', () => {
  it('montage: a column per condition, a row per face, rendered at that size', async () => {
    const svg = montageSvg([{ image: 'A/A_0001.jpg', crops: [PIXEL, PIXEL, PIXEL] }, { image: 'B/B_0001.jpg', crops: [PIXEL, PIXEL, PIXEL] }], ['GT', 'OCC', 'Telea'], 64);
    expect(svg.match(/<image /g)).toHaveLength(6);
    const meta = await sharp(await svgToPng(svg)).metadata();
    expect([meta.width, meta.height]).toEqual([3 * 68 + 4, 24 + 2 * 68 + 4]);
    expect(() => montageSvg([{ image: 'A', crops: [PIXEL] }], ['GT', 'OCC'])).toThrow(/face A has 1 crops for 2 conditions/);
    expect(() => montageSvg([], ['GT'])).toThrow(/at least one face/);
  });

  it('bars: the axis starts 5 points under the lowest accuracy, on a multiple of 5', () => {
    expect(accuracyAxisFloor([0.984, 0.8915, 0.95])).toBe(80);
    expect(accuracyAxisFloor([0.9, 0.99])).toBe(85);
    expect(accuracyAxisFloor([0.02])).toBe(0);
  });

  it('bars: one bar per recognizer and condition, names escaped, missing values refused', () => {
    const accuracy = {
      'a<b': { GT: { mean: 0.98, std: 0.01 }, OCC: { mean: 0.9, std: 0.02 } },
      c: { GT: { mean: 0.99, std: 0.01 }, OCC: { mean: 0.85, std: 0.03 } },
    };
    const svg = accuracyBarsSvg(accuracy);
    // 4 bars + 2 legend swatches; the plot background is a rect with width="100%".
    expect(svg.match(/<rect x=/g)).toHaveLength(6);
    expect(svg).toContain('a&#60;b');
    expect(() => accuracyBarsSvg({ a: { GT: { mean: 1, std: 0 } }, b: {} })).toThrow(/no accuracy of b under GT/);
    expect(() => accuracyBarsSvg({})).toThrow(/no recognizer/);
  });

  it('t-SNE panels: a dot per point, coloured by identity; mismatched labels refused', async () => {
    const svg = tsneSvg([{ title: 'GT', points: [[0, 0], [1, 1], [5, 5]], labels: [0, 0, 1] }, { title: 'OCC', points: [[0, 0], [1, 0], [0, 1]], labels: [0, 1, 1] }], ['Ann', 'Bob']);
    expect(svg.match(/<circle /g)).toHaveLength(6 + 2);
    expect((await sharp(await svgToPng(svg)).metadata()).format).toBe('png');
    expect(() => tsneSvg([{ title: 'x', points: [[0, 0]], labels: [] }], ['Ann'])).toThrow(/panel x: 1 points, 0 labels/);
  });

  it('picks the identities with the most images, ties by name, at least minImages each', () => {
    const images = [
      ...[1, 2, 3].map((number) => ({ name: 'Bob', number })),
      ...[1, 2, 3, 4].map((number) => ({ name: 'Cid', number })),
      ...[1, 2, 3].map((number) => ({ name: 'Ann', number })),
      ...[1, 2].map((number) => ({ name: 'Dee', number })),
    ];
    expect(pickIdentities(images, 2, 3, 3)).toEqual([
      { name: 'Cid', indices: [3, 4, 5] },
      { name: 'Ann', indices: [7, 8, 9] },
    ]);
    expect(pickIdentities(images, 8, 5)).toEqual([]);
  });
});
