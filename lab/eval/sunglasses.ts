// Synthetic sunglasses: two dark lenses and a bridge drawn over the eyes of a photo, placed by the
// 68 landmarks of its clean face. training/tools/masked_identification.ts --occluder sunglasses measures
// with them what the repair does for faces covered above the nose. The lenses are drawn as the
// segmenter's training draws them (training/occlusion/synth.py sunglasses_occluder), at one fixed size
// and tint, so that every probe wears the same pair.
import sharp from 'sharp';
import type { Point } from '../../src/types.ts';

// Lens half-width as a share of the distance between the eye centres; its height as a share of that.
const LENS_HALF_WIDTH = 0.45;
const LENS_ASPECT = 0.8;
// Lenses sit a little below the eye centres, the bridge above them (shares of the lens half-height).
const LENS_DROP = 0.15;
const BRIDGE_RISE = 0.4;
const TINT = 'rgb(22,24,28)';

const mean = (points: readonly Point[]): Point => ({
  x: points.reduce((s, p) => s + p.x, 0) / points.length,
  y: points.reduce((s, p) => s + p.y, 0) / points.length,
});

/** The eye centres of 68 iBUG landmarks (36–41 and 42–47), left first. */
export function eyeCentres(landmarks: readonly Point[]): [Point, Point] {
  if (landmarks.length !== 68) throw new Error(`sunglasses need 68 landmarks, got ${landmarks.length}`);
  return [mean(landmarks.slice(36, 42)), mean(landmarks.slice(42, 48))];
}

/** The SVG of the sunglasses over a width×height image with eyes at `left` and `right`. */
export function sunglassesSvg(width: number, height: number, left: Point, right: Point): string {
  const distance = Math.hypot(right.x - left.x, right.y - left.y);
  const tilt = (Math.atan2(right.y - left.y, right.x - left.x) * 180) / Math.PI;
  const rx = distance * LENS_HALF_WIDTH;
  const ry = rx * LENS_ASPECT;
  const lens = (c: Point) =>
    `<ellipse cx="${c.x.toFixed(1)}" cy="${(c.y + ry * LENS_DROP).toFixed(1)}" rx="${rx.toFixed(1)}" ry="${ry.toFixed(1)}" ` +
    `transform="rotate(${tilt.toFixed(2)} ${c.x.toFixed(1)} ${c.y.toFixed(1)})" fill="${TINT}"/>`;
  const bridgeY = (c: Point) => (c.y + ry * LENS_DROP - ry * BRIDGE_RISE).toFixed(1);
  const bridge =
    `<line x1="${(left.x + rx * 0.9).toFixed(1)}" y1="${bridgeY(left)}" x2="${(right.x - rx * 0.9).toFixed(1)}" y2="${bridgeY(right)}" ` +
    `stroke="${TINT}" stroke-width="${Math.max(2, distance * 0.05).toFixed(1)}"/>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${lens(left)}${lens(right)}${bridge}</svg>`;
}

/** The photo with sunglasses over the eyes its clean face's `landmarks` locate, as PNG bytes. */
export async function withSunglasses(photo: Buffer | string, landmarks: readonly Point[]): Promise<Buffer> {
  const { width, height } = await sharp(photo).metadata();
  if (!width || !height) throw new Error('the photo has no size');
  const [left, right] = eyeCentres(landmarks);
  return sharp(photo)
    .composite([{ input: Buffer.from(sunglassesSvg(width, height, left, right)) }])
    .png()
    .toBuffer();
}
