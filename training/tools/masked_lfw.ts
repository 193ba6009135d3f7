// What the masked-face measurements share (masked_identification, masked_eyes, masked_detection): the
// LFW people they use, the photo as the masked e2e video shows it, and the face of a photo's person.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { SURGICAL_MASK_TEMPLATE } from '../../lab/eval/surgical-mask.ts';
import type { Detector } from '../../src/models/types.ts';
import type { DetectedFace, RgbImage } from '../../src/types.ts';

const shared = join(import.meta.dirname, '../../../shared/data');
/** LFW View 1's deep-funnelled photos in ../shared (the tools' --lfw default). */
export const DEFAULT_LFW = join(shared, 'lfw-view1/images_deepfunneled');
/** MaskTheFace's surgical mask every masked photo wears. */
export const MASK_TEMPLATE = join(shared, SURGICAL_MASK_TEMPLATE);

/** The LFW folders (sorted) with at least 3 photos: one masked probe and two gallery photos each. */
export function peopleWithThreePhotos(lfw: string): string[] {
  return readdirSync(lfw)
    .sort()
    .filter((name) => readdirSync(join(lfw, name)).length >= 3);
}

/** A person's k-th photo (sorted, from 0). */
export function lfwPhoto(lfw: string, name: string, k: number): string {
  return join(lfw, name, readdirSync(join(lfw, name)).sort()[k]);
}

/** The face nearest the image's centre (LFW photos, and the camera frames below, are centred on their person). */
export async function centralFace(detector: Detector, image: RgbImage): Promise<DetectedFace | undefined> {
  const off = (f: DetectedFace) => Math.hypot(f.box.x + f.box.width / 2 - image.width / 2, f.box.y + f.box.height / 2 - image.height / 2);
  return (await detector.detect(image)).sort((a, b) => off(a) - off(b))[0];
}

/** The photo as the masked e2e video shows it: 250 px, centred on a 640×360 mid-grey frame. */
export async function onCameraFrame(photo: Buffer | string): Promise<RgbImage> {
  const { data, info } = await sharp(photo)
    .resize(250, 250)
    .extend({ left: 195, right: 195, top: 55, bottom: 55, background: { r: 128, g: 128, b: 128 } })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}
