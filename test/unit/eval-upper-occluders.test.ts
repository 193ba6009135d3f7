import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { eyeCentres, withBrim, withSunglasses } from '../../lab/eval/upper-occluders.ts';
import type { Point } from '../../src/types.ts';

// 68 landmarks of a face centred in a 200×200 image: the jaw from x 50 to 150, brows at y 75, the eyes given,
// the rest at the mouth.
function landmarksWithEyes(left: Point, right: Point): Point[] {
  const points: Point[] = Array.from({ length: 68 }, () => ({ x: 100, y: 160 }));
  for (let i = 0; i < 17; i++) points[i] = { x: 50 + (i * 100) / 16, y: 80 + 60 * Math.sin((i * Math.PI) / 16) };
  for (let i = 17; i < 27; i++) points[i] = { x: 60 + (i - 17) * 9, y: 75 };
  for (let i = 36; i < 42; i++) points[i] = { x: left.x + (i % 2 ? 4 : -4), y: left.y };
  for (let i = 42; i < 48; i++) points[i] = { x: right.x + (i % 2 ? 4 : -4), y: right.y };
  return points;
}

async function pixel(png: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * info.channels;
  return [data[at], data[at + 1], data[at + 2]];
}

describe('synthetic occluders above the nose', () => {
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

  it('covers the forehead and brows with a brim and leaves the eyes below its edge', async () => {
    const photo = await sharp({ create: { width: 200, height: 200, channels: 3, background: { r: 200, g: 160, b: 140 } } }).png().toBuffer();
    // The eyes 60 px apart: the edge lies at 75 + 0.12·60 ≈ 82.
    const worn = await withBrim(photo, landmarksWithEyes({ x: 70, y: 90 }, { x: 130, y: 90 }));
    // It reaches half an eye distance beyond the jaw: x 20…180.
    for (const [x, y] of [[100, 10], [25, 78], [175, 78], [100, 80]]) expect(await pixel(worn, x, y)).toEqual([38, 44, 70]);
    for (const [x, y] of [[70, 92], [10, 40], [190, 40]]) expect(await pixel(worn, x, y)).toEqual([200, 160, 140]);
    expect(await pixel(worn, 100, 160)).toEqual([200, 160, 140]);
  });
});
