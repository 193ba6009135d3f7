import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { eyeCentres, withSunglasses } from '../../lab/eval/sunglasses.ts';
import type { Point } from '../../src/types.ts';

// 68 landmarks of a face centred in a 200×200 image: eyes at (70, 90) and (130, 90), the rest at the mouth.
function landmarksWithEyes(left: Point, right: Point): Point[] {
  const points: Point[] = Array.from({ length: 68 }, () => ({ x: 100, y: 160 }));
  for (let i = 36; i < 42; i++) points[i] = { x: left.x + (i % 2 ? 4 : -4), y: left.y };
  for (let i = 42; i < 48; i++) points[i] = { x: right.x + (i % 2 ? 4 : -4), y: right.y };
  return points;
}

async function pixel(png: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * info.channels;
  return [data[at], data[at + 1], data[at + 2]];
}

describe('synthetic sunglasses', () => {
  it('finds the eye centres of 68 landmarks', () => {
    const [left, right] = eyeCentres(landmarksWithEyes({ x: 70, y: 90 }, { x: 130, y: 90 }));
    expect(left).toEqual({ x: 70, y: 90 });
    expect(right).toEqual({ x: 130, y: 90 });
    expect(() => eyeCentres([{ x: 0, y: 0 }])).toThrow(/68 landmarks/);
  });

  it('darkens the eyes and leaves the mouth and cheeks as they were', async () => {
    const photo = await sharp({ create: { width: 200, height: 200, channels: 3, background: { r: 200, g: 160, b: 140 } } }).png().toBuffer();
    const worn = await withSunglasses(photo, landmarksWithEyes({ x: 70, y: 90 }, { x: 130, y: 90 }));
    for (const [x, y] of [[70, 92], [130, 92]]) for (const v of await pixel(worn, x, y)) expect(v).toBeLessThan(40);
    expect(await pixel(worn, 100, 160)).toEqual([200, 160, 140]);
    expect(await pixel(worn, 20, 150)).toEqual([200, 160, 140]);
  });
});
