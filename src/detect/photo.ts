// Faces of a photo (enrollment, `unmask inpaint`): a large photo is detected on a shrunk copy, the
// faces carried back into the photo's own pixels, so that crops are cut at full resolution.
import sharp from 'sharp';
import type { Detector } from '../models/types.ts';
import type { DetectedFace, RgbImage } from '../types.ts';

/** Longest side the detector sees of a photo; the detector's own input is far smaller (320×240). */
export const PHOTO_DETECTION_MAX_SIDE = 2048;

export async function detectInPhoto(detector: Detector, photo: RgbImage, maxSide = PHOTO_DETECTION_MAX_SIDE): Promise<DetectedFace[]> {
  const scale = Math.min(1, maxSide / Math.max(photo.width, photo.height));
  if (scale === 1) return detector.detect(photo);
  const width = Math.max(1, Math.round(photo.width * scale)), height = Math.max(1, Math.round(photo.height * scale));
  const { data } = await sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const faces = await detector.detect({ width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  const sx = photo.width / width, sy = photo.height / height;
  return faces.map((f) => ({
    score: f.score,
    box: { x: f.box.x * sx, y: f.box.y * sy, width: f.box.width * sx, height: f.box.height * sy },
    landmarks: f.landmarks.map((p) => ({ x: p.x * sx, y: p.y * sy })),
  }));
}
