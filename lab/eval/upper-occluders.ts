// Synthetic occluders above the nose, placed by the 68 landmarks of the photo's clean face:
// sunglasses (two dark lenses and a bridge over the eyes) and a hat brim (everything above a line just
// under the brows). training/tools/masked_identification.ts --occluder sunglasses|brim measures with them
// what the repair does for faces covered above the nose. They are drawn as the segmenter's training
// draws them (training/occlusion/synth.py sunglasses_occluder, brim_occluder), at one fixed size and
// colour, so that every probe wears the same.
import sharp from 'sharp';
import type { Point } from '../../src/types.ts';

// Lens half-width as a share of the distance between the eye centres; its height as a share of that.
const LENS_HALF_WIDTH = 0.45;
const LENS_ASPECT = 0.8;
// Lenses sit a little below the eye centres, the bridge above them (shares of the lens half-height).
const LENS_DROP = 0.15;
const BRIDGE_RISE = 0.4;
const TINT = 'rgb(22,24,28)';
// The brim's edge lies this share of the eye distance below the lowest brow point: over the upper lids.
const BRIM_DROP = 0.12;
const BRIM_COLOUR = 'rgb(38,44,70)';

const mean = (points: readonly Point[]): Point => ({
  x: points.reduce((s, p) => s + p.x, 0) / points.length,
  y: points.reduce((s, p) => s + p.y, 0) / points.length,
});

/** The eye centres of 68 iBUG landmarks (36–41 and 42–47), left first. */
export function eyeCentres(landmarks: readonly Point[]): [Point, Point] {
  if (landmarks.length !== 68) throw new Error(`the occluders are placed by 68 landmarks, got ${landmarks.length}`);
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

/** The SVG of a hat brim over a width×height image: above the line through the brows' lowest point,
 * lowered by BRIM_DROP of the eye distance and tilted with the eyes, from half an eye distance beyond
 * one side of the jaw (landmark 0) to as far beyond the other (16). */
export function brimSvg(width: number, height: number, landmarks: readonly Point[]): string {
  const [left, right] = eyeCentres(landmarks);
  const distance = Math.hypot(right.x - left.x, right.y - left.y);
  const slope = (right.y - left.y) / (right.x - left.x);
  const brows = landmarks.slice(17, 27);
  const lowest = brows.reduce((a, b) => (b.y > a.y ? b : a));
  const edgeAt = (x: number) => (lowest.y + distance * BRIM_DROP + slope * (x - lowest.x)).toFixed(1);
  const from = landmarks[0].x - distance / 2;
  const to = landmarks[16].x + distance / 2;
  const [x0, x1] = [from.toFixed(1), to.toFixed(1)];
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<polygon points="${x0},0 ${x1},0 ${x1},${edgeAt(to)} ${x0},${edgeAt(from)}" fill="${BRIM_COLOUR}"/></svg>`
  );
}

async function withOverlay(photo: Buffer | string, svg: (width: number, height: number) => string): Promise<Buffer> {
  const { width, height } = await sharp(photo).metadata();
  if (!width || !height) throw new Error('the photo has no size');
  return sharp(photo)
    .composite([{ input: Buffer.from(svg(width, height)) }])
    .png()
    .toBuffer();
}

/** The photo with a hat brim down to just under the brows its clean face's `landmarks` locate, as PNG bytes. */
export function withBrim(photo: Buffer | string, landmarks: readonly Point[]): Promise<Buffer> {
  return withOverlay(photo, (width, height) => brimSvg(width, height, landmarks));
}

/** The photo with sunglasses over the eyes its clean face's `landmarks` locate, as PNG bytes. */
export function withSunglasses(photo: Buffer | string, landmarks: readonly Point[]): Promise<Buffer> {
  const [left, right] = eyeCentres(landmarks);
  return withOverlay(photo, (width, height) => sunglassesSvg(width, height, left, right));
}
