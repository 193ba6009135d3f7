// The alert a track's decision becomes: identity, score, camera, time, box, the face crop as JPEG, and
// for a covered face its occluded share, the repaired face and the mask.
import sharp from 'sharp';
import type { FaceOcclusion, TrackDecision } from '../pipeline/messages.ts';
import type { RgbImage } from '../types.ts';
import { ALERT_SCHEMA, type AlertMessage } from './message.ts';

const JPEG_QUALITY = 85;

export async function alertPayload({ identification, votes, occlusion, matchedOn }: TrackDecision): Promise<AlertMessage> {
  const { observation, identity, score, crop } = identification;
  const round = (v: number) => Math.round(v * 10) / 10;
  const box = observation.face.box;
  const [faceJpeg, occlusionFields] = await Promise.all([jpeg(crop), occlusion ? occlusionPayload(occlusion) : {}]);
  return {
    schema: ALERT_SCHEMA,
    type: 'alert',
    identity,
    known: identity !== null,
    score: Math.round(score * 10_000) / 10_000,
    camera: observation.camera,
    trackId: observation.trackId,
    frameTime: new Date(observation.frameTime).toISOString(),
    sentTime: new Date().toISOString(),
    box: { x: round(box.x), y: round(box.y), width: round(box.width), height: round(box.height) },
    faceJpeg: faceJpeg.toString('base64'),
    votes,
    matchedOn,
    ...occlusionFields,
  };
}

/** The alert's occlusion fields: the fraction always, the repaired face and its mask when inpainting ran. */
async function occlusionPayload(occlusion: FaceOcclusion): Promise<Pick<AlertMessage, 'occludedFraction' | 'inpaintedJpeg' | 'occlusionMaskPng'>> {
  const occludedFraction = Math.round(occlusion.fraction * 10_000) / 10_000;
  const { inpainted, mask } = occlusion;
  if (!inpainted || !mask) return { occludedFraction };
  const grey = Uint8Array.from(mask, (m) => (m ? 255 : 0));
  const png = await sharp(grey, { raw: { width: inpainted.width, height: inpainted.height, channels: 1 } }).png().toBuffer();
  return { occludedFraction, inpaintedJpeg: (await jpeg(inpainted)).toString('base64'), occlusionMaskPng: png.toString('base64') };
}

function jpeg(image: RgbImage): Promise<Buffer> {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).jpeg({ quality: JPEG_QUALITY }).toBuffer();
}
