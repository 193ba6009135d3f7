// What crosses the broker between the roles, as bytes: functions of their input alone, no I/O.
//
// ingest → infer, one entry per attempted face: the observation (track, box, landmarks, quality) and
// the part of the frame around the face that every later step samples: the inpainting and recognizer
// crops (align runs on the infer side), the landmark model's box and the re-cut segmenter crop
// (repair), the upper-face crop, and the face source an event keeps. Never the frame. Tracks the
// tracker closed travel in the same entry (or alone).
//
// infer → gateways: an event of the history (encodeEvent), beside the alert's JSON for alerts.
import sharp from 'sharp';
import { estimateSimilarity, applySimilarity, invertSimilarity } from '../align/similarity.ts';
import { sourcePoints, type CropTemplate } from '../align/templates.ts';
import { faceSourceRegion } from '../gallery/enroll.ts';
import type { NewEvent } from '../events/store.ts';
import type { FaceObservation } from '../pipeline/messages.ts';
import type { Box, DetectedFace, Point, RgbImage } from '../types.ts';

/** A malformed entry: it is acknowledged and counted, never retried. */
export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

/** A part of a frame: its pixels and where they sit in the frame. */
export interface FrameRegion {
  x: number;
  y: number;
  image: RgbImage;
}

/** One entry of the faces stream. */
export interface FaceEntry {
  camera: string;
  /** The camera's lease generation: track ids start over with each lease, so a track is (camera, epoch, trackId). */
  epoch: number;
  /** ms since epoch when the ingest worker sent it: the broker's share of the latency. */
  sentAt: number;
  /** The attempted face, in frame coordinates, and the region of the frame around it; absent in an entry that only closes tracks. */
  face?: { observation: FaceObservation; region: FrameRegion };
  /** Tracks the tracker closed: their votes are let go. */
  closedTracks: number[];
}

/**
 * The crops' area is grown by this share of the face box's longer side: the landmark model of repair
 * and the upper face moves the eyes and nose by a few percent of the box (docs/occlusion.md), and the
 * crops cut on its landmarks must still fall inside.
 */
const CROP_MARGIN = 0.25;
/** Bilinear samples read the pixel right and below of where they fall. */
const SAMPLE_PAD = 2;

/**
 * The part of a `frameWidth`×`frameHeight` frame that the steps after the tracker read for this face,
 * in whole pixels inside the frame: the area each template's crop samples (grown by CROP_MARGIN) and
 * the face source's region (an event keeps it), whichever reaches further.
 */
export function faceRegion(face: DetectedFace, frameWidth: number, frameHeight: number, templates: readonly CropTemplate[]): Box {
  const crops: Point[] = [
    { x: face.box.x, y: face.box.y },
    { x: face.box.x + face.box.width, y: face.box.y + face.box.height },
  ];
  for (const template of templates) {
    const toFrame = invertSimilarity(estimateSimilarity(sourcePoints(template, face.landmarks), template.points));
    for (const corner of [
      { x: 0, y: 0 },
      { x: template.size, y: 0 },
      { x: 0, y: template.size },
      { x: template.size, y: template.size },
    ])
      crops.push(applySimilarity(toFrame, corner));
  }
  const margin = CROP_MARGIN * Math.max(face.box.width, face.box.height) + SAMPLE_PAD;
  const source = faceSourceRegion(face, frameWidth, frameHeight);
  const xs = crops.map((p) => p.x), ys = crops.map((p) => p.y);
  const x0 = clamp(Math.floor(Math.min(Math.min(...xs) - margin, source.x)), 0, frameWidth - 1);
  const y0 = clamp(Math.floor(Math.min(Math.min(...ys) - margin, source.y)), 0, frameHeight - 1);
  const x1 = clamp(Math.ceil(Math.max(Math.max(...xs) + margin, source.x + source.width)), x0 + 1, frameWidth);
  const y1 = clamp(Math.ceil(Math.max(Math.max(...ys) + margin, source.y + source.height)), y0 + 1, frameHeight);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** The pixels of `box` (whole pixels, inside the image) as an image of their own. */
export function cutRegion(image: RgbImage, box: Box): FrameRegion {
  const data = new Uint8Array(box.width * box.height * 3);
  const rowBytes = box.width * 3;
  for (let row = 0; row < box.height; row++) {
    const from = ((box.y + row) * image.width + box.x) * 3;
    data.set(image.data.subarray(from, from + rowBytes), row * rowBytes);
  }
  return { x: box.x, y: box.y, image: { width: box.width, height: box.height, data } };
}

/** The observation moved by (dx, dy): into a region's coordinates and back. */
export function shiftObservation(observation: FaceObservation, dx: number, dy: number): FaceObservation {
  const { face } = observation;
  return {
    ...observation,
    face: {
      ...face,
      box: { ...face.box, x: face.box.x + dx, y: face.box.y + dy },
      landmarks: face.landmarks.map((p) => ({ x: p.x + dx, y: p.y + dy })),
    },
  };
}

const FACE_MAGIC = 'UMF1';
const EVENT_MAGIC = 'UME1';
const LANDMARKS = 68;

/**
 * How the region's pixels travel: raw RGB (what the single process sees, to the bit), or JPEG at
 * REGION_JPEG_QUALITY (a tenth of the bytes or less; the crops then differ a little: docs/scaling.md).
 */
export type RegionEncoding = 'raw' | 'jpeg';
export const REGION_JPEG_QUALITY = 95;

interface FaceHeader {
  camera: string;
  epoch: number;
  sentAt: number;
  closed: number[];
  face?: {
    seq: number;
    time: number;
    track: number;
    quality: number;
    score: number;
    box: [number, number, number, number];
    region: [number, number, number, number];
    /** Absent: raw. */
    encoding?: 'jpeg';
  };
}

/** An entry as bytes: magic, a JSON header, then for a face its 68 landmarks (float64) and the region's pixels. */
export async function encodeFaceEntry(entry: FaceEntry, encoding: RegionEncoding = 'raw'): Promise<Buffer> {
  const header: FaceHeader = { camera: entry.camera, epoch: entry.epoch, sentAt: entry.sentAt, closed: entry.closedTracks };
  const parts: Buffer[] = [];
  if (entry.face) {
    const { observation: o, region } = entry.face;
    const { box } = o.face;
    if (o.face.landmarks.length !== LANDMARKS) throw new WireError(`a face needs ${LANDMARKS} landmarks, got ${o.face.landmarks.length}`);
    if (region.image.data.length !== region.image.width * region.image.height * 3) throw new WireError('the region is not packed RGB of its size');
    header.face = {
      seq: o.frameSeq,
      time: o.frameTime,
      track: o.trackId,
      quality: o.quality,
      score: o.face.score,
      box: [box.x, box.y, box.width, box.height],
      region: [region.x, region.y, region.image.width, region.image.height],
      ...(encoding === 'jpeg' ? { encoding } : {}),
    };
    const landmarks = Buffer.alloc(LANDMARKS * 16);
    o.face.landmarks.forEach((p, i) => {
      landmarks.writeDoubleLE(p.x, i * 16);
      landmarks.writeDoubleLE(p.y, i * 16 + 8);
    });
    const { width, height, data } = region.image;
    const pixels =
      encoding === 'jpeg'
        ? await sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: REGION_JPEG_QUALITY }).toBuffer()
        : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    parts.push(landmarks, pixels);
  }
  return Buffer.concat([framed(FACE_MAGIC, header), ...parts]);
}

export async function decodeFaceEntry(bytes: Buffer): Promise<FaceEntry> {
  const { header, body } = unframed<FaceHeader>(FACE_MAGIC, bytes);
  if (typeof header.camera !== 'string' || !Number.isInteger(header.epoch) || !Array.isArray(header.closed))
    throw new WireError('a face entry needs camera, epoch and closed tracks');
  const entry: FaceEntry = { camera: header.camera, epoch: header.epoch, sentAt: header.sentAt, closedTracks: header.closed };
  const f = header.face;
  if (!f) {
    if (body.length) throw new WireError(`an entry without a face carries ${body.length} bytes`);
    return entry;
  }
  const [rx, ry, rw, rh] = f.region;
  const raw = f.encoding === undefined;
  const expected = LANDMARKS * 16 + (raw ? rw * rh * 3 : 0);
  if (!(rw > 0 && rh > 0) || (raw ? body.length !== expected : body.length <= expected))
    throw new WireError(`a face entry of a ${rw}×${rh} ${raw ? 'raw' : f.encoding} region needs ${raw ? '' : 'more than '}${expected} bytes after its header, got ${body.length}`);
  const landmarks: Point[] = [];
  for (let i = 0; i < LANDMARKS; i++) landmarks.push({ x: body.readDoubleLE(i * 16), y: body.readDoubleLE(i * 16 + 8) });
  // A copy: the entry's buffer belongs to the Redis client's reply.
  const data = raw ? new Uint8Array(body.subarray(LANDMARKS * 16)) : await decodeJpegRegion(body.subarray(LANDMARKS * 16), rw, rh);
  entry.face = {
    observation: {
      camera: header.camera,
      frameSeq: f.seq,
      frameTime: f.time,
      trackId: f.track,
      quality: f.quality,
      face: { box: { x: f.box[0], y: f.box[1], width: f.box[2], height: f.box[3] }, score: f.score, landmarks },
    },
    region: { x: rx, y: ry, image: { width: rw, height: rh, data } },
  };
  return entry;
}

async function decodeJpegRegion(jpeg: Buffer, width: number, height: number): Promise<Uint8Array> {
  let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    decoded = await sharp(jpeg, { limitInputPixels: width * height }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new WireError(`the region is not a JPEG: ${(err as Error).message}`);
  }
  const { info, data } = decoded;
  if (info.width !== width || info.height !== height || info.channels !== 3) throw new WireError(`the region's JPEG is ${info.width}×${info.height}, its header says ${width}×${height}`);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

type EventHeader = Omit<NewEvent, 'faceJpeg' | 'inpaintedJpeg' | 'maskPng' | 'source'> & {
  /** Byte lengths of face, inpainted, mask and source JPEG, in that order after the header (-1: absent). */
  lengths: [number, number, number, number];
  source?: { box: Box; landmarks: Point[] };
};

/** An event of the history as bytes: magic, a JSON header, then its images one after another. */
export function encodeEvent(event: NewEvent): Buffer {
  const { faceJpeg, inpaintedJpeg, maskPng, source, ...fields } = event;
  const images = [faceJpeg, inpaintedJpeg, maskPng, source?.jpeg];
  const header: EventHeader = {
    ...fields,
    lengths: images.map((b) => (b ? b.length : -1)) as EventHeader['lengths'],
    ...(source ? { source: { box: source.box, landmarks: source.landmarks } } : {}),
  };
  return Buffer.concat([framed(EVENT_MAGIC, header), ...images.flatMap((b) => (b ? [b] : []))]);
}

export function decodeEvent(bytes: Buffer): NewEvent {
  const { header, body } = unframed<EventHeader>(EVENT_MAGIC, bytes);
  const { lengths, source, ...fields } = header;
  if (!Array.isArray(lengths) || lengths.length !== 4 || lengths[0] < 0) throw new WireError('an event needs the lengths of its images, the face first');
  const total = lengths.reduce((sum, n) => sum + Math.max(0, n), 0);
  if (total !== body.length) throw new WireError(`an event's images add up to ${total} bytes, got ${body.length}`);
  let at = 0;
  const [face, inpainted, mask, sourceJpeg] = lengths.map((n) => {
    if (n < 0) return undefined;
    const part = Buffer.from(body.subarray(at, at + n));
    at += n;
    return part;
  });
  if ((sourceJpeg === undefined) !== (source === undefined)) throw new WireError("an event's face source needs both its JPEG and its box");
  return {
    ...fields,
    faceJpeg: face!,
    ...(inpainted ? { inpaintedJpeg: inpainted } : {}),
    ...(mask ? { maskPng: mask } : {}),
    ...(sourceJpeg && source ? { source: { jpeg: sourceJpeg, box: source.box, landmarks: source.landmarks } } : {}),
  };
}

function framed(magic: string, header: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const head = Buffer.alloc(8);
  head.write(magic, 0, 'latin1');
  head.writeUInt32LE(json.length, 4);
  return Buffer.concat([head, json]);
}

function unframed<H>(magic: string, bytes: Buffer): { header: H; body: Buffer } {
  if (bytes.length < 8 || bytes.toString('latin1', 0, 4) !== magic) throw new WireError(`not a ${magic} entry`);
  const length = bytes.readUInt32LE(4);
  if (8 + length > bytes.length) throw new WireError(`the header claims ${length} bytes, the entry has ${bytes.length - 8}`);
  let header: H;
  try {
    header = JSON.parse(bytes.toString('utf8', 8, 8 + length)) as H;
  } catch (err) {
    throw new WireError(`the header is not JSON: ${(err as Error).message}`);
  }
  if (!header || typeof header !== 'object') throw new WireError('the header is not an object');
  return { header, body: bytes.subarray(8 + length) };
}
