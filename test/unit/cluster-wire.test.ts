// The cluster's wire format: what an ingest worker sends for a face is enough for every crop the infer
// worker cuts (the same pixels as from the whole frame), and entries and events come back as they went.
import { describe, expect, it } from 'vitest';
import { alignToTemplate } from '../../src/align/warp.ts';
import { ARCFACE_TEMPLATE, INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { regionTemplates, faceEntries } from '../../src/cluster/ingest.ts';
import { cutRegion, decodeEvent, decodeFaceEntry, encodeEvent, encodeFaceEntry, faceRegion, shiftObservation, WireError, type FaceEntry } from '../../src/cluster/wire.ts';
import { parseConfig } from '../../src/config.ts';
import { upperTemplate } from '../../src/embed/upper-face.ts';
import type { NewEvent } from '../../src/events/store.ts';
import { faceSourceOf } from '../../src/gallery/enroll.ts';
import type { FaceObservation } from '../../src/pipeline/messages.ts';
import type { Box, DetectedFace, Point, RgbImage } from '../../src/types.ts';
import { landmarksFor, seeded } from './gallery-fakes.ts';

const W = 320, H = 240;

function noiseFrame(seed: number): RgbImage {
  const random = seeded(seed);
  return { width: W, height: H, data: Uint8Array.from({ length: W * H * 3 }, () => Math.floor(random() * 256)) };
}

/** A face in the box, turned by `angle` about the box's centre. */
function faceAt(box: Box, angle = 0): DetectedFace {
  const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
  const turn = (p: Point): Point => ({
    x: cx + (p.x - cx) * Math.cos(angle) - (p.y - cy) * Math.sin(angle),
    y: cy + (p.x - cx) * Math.sin(angle) + (p.y - cy) * Math.cos(angle),
  });
  return { box, score: 0.93, landmarks: landmarksFor(box).map(turn) };
}

function observation(face: DetectedFace): FaceObservation {
  return { camera: 'door', frameSeq: 41, frameTime: 1_733_212_345_678, trackId: 7, face, quality: 0.81 };
}

const templates = regionTemplates(parseConfig({}));

describe('the region of the frame that crosses the wire', () => {
  const frame = noiseFrame(1);
  const cases: [string, DetectedFace][] = [
    ['a face in the middle', faceAt({ x: 120, y: 80, width: 60, height: 70 })],
    ['a turned face', faceAt({ x: 110, y: 70, width: 70, height: 80 }, 0.35)],
    ['a face at the corner, the crops reaching out of the frame', faceAt({ x: 2, y: 1, width: 64, height: 72 }, -0.2)],
  ];

  it.each(cases)('holds every crop the infer worker cuts: %s', (_, face) => {
    const region = cutRegion(frame, faceRegion(face, W, H, templates));
    const local = shiftObservation(observation(face), -region.x, -region.y).face;
    const upper = upperTemplate(ARCFACE_TEMPLATE, 0.62);
    for (const template of [INPAINT_TEMPLATE, ARCFACE_TEMPLATE, upper]) {
      const whole = alignToTemplate(frame, face.landmarks, template).crop;
      const cut = alignToTemplate(region.image, local.landmarks, template).crop;
      // Moving the landmarks by whole pixels can change a float's last bit: at most 1 level, on a few pixels.
      let differing = 0, worst = 0;
      for (let i = 0; i < whole.data.length; i++) {
        const d = Math.abs(whole.data[i] - cut.data[i]);
        if (d) differing++;
        worst = Math.max(worst, d);
      }
      expect(worst, template.name).toBeLessThanOrEqual(1);
      expect(differing / whole.data.length, template.name).toBeLessThan(0.01);
    }
    expect(region.image.width * region.image.height).toBeLessThan(W * H);
  });

  it("holds the face source an event keeps, byte for byte", async () => {
    const [, face] = cases[1];
    const region = cutRegion(frame, faceRegion(face, W, H, templates));
    const local = shiftObservation(observation(face), -region.x, -region.y).face;
    const [whole, cut] = await Promise.all([faceSourceOf(frame, face), faceSourceOf(region.image, local)]);
    expect(cut.jpeg.equals(whole.jpeg)).toBe(true);
    expect(cut.box.width).toBeCloseTo(whole.box.width, 6);
  });

  it('stays inside the frame', () => {
    for (const [, face] of cases) {
      const box = faceRegion(face, W, H, templates);
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.y).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(W);
      expect(box.y + box.height).toBeLessThanOrEqual(H);
      expect(Number.isInteger(box.x) && Number.isInteger(box.width)).toBe(true);
    }
  });

  it('cuts rows of the frame as they are', () => {
    const region = cutRegion(frame, { x: 10, y: 20, width: 3, height: 2 });
    expect([...region.image.data.subarray(0, 9)]).toEqual([...frame.data.subarray((20 * W + 10) * 3, (20 * W + 13) * 3)]);
    expect([...region.image.data.subarray(9)]).toEqual([...frame.data.subarray((21 * W + 10) * 3, (21 * W + 13) * 3)]);
  });
});

describe('face entries', () => {
  const frame = noiseFrame(2);
  const faces = [faceAt({ x: 30, y: 40, width: 60, height: 66 }), faceAt({ x: 200, y: 90, width: 50, height: 56 }, 0.1)];
  const message = { frame: { camera: 'door', seq: 41, time: 1_733_212_345_678, image: frame }, faces: faces.map(observation).map((o, i) => ({ ...o, trackId: 7 + i })), closedTracks: [3, 4] };

  it('one per attempted face, the closed tracks with the first; a frame without faces sends only what it closed', () => {
    const entries = faceEntries(message, 5, templates, 1000);
    expect(entries.map((e) => [e.face?.observation.trackId, e.closedTracks])).toEqual([[7, [3, 4]], [8, []]]);
    expect(entries.every((e) => e.epoch === 5 && e.camera === 'door' && e.sentAt === 1000)).toBe(true);
    expect(faceEntries({ ...message, faces: [] }, 5, templates, 1000)).toEqual([{ camera: 'door', epoch: 5, sentAt: 1000, closedTracks: [3, 4] }]);
    expect(faceEntries({ ...message, faces: [], closedTracks: [] }, 5, templates, 1000)).toEqual([]);
  });

  it('come back from their bytes as they went, landmarks to the last bit', async () => {
    for (const entry of faceEntries(message, 5, templates, 1000)) {
      const bytes = await encodeFaceEntry(entry);
      const back = await decodeFaceEntry(bytes);
      expect(back).toEqual(entry);
      const { width, height } = entry.face!.region.image;
      // Header, 68 float64 landmark pairs, raw RGB of the region: nothing else.
      expect(bytes.length - width * height * 3 - 68 * 16).toBeLessThan(400);
    }
    const closedOnly: FaceEntry = { camera: 'door', epoch: 2, sentAt: 5, closedTracks: [9] };
    expect(await decodeFaceEntry(await encodeFaceEntry(closedOnly))).toEqual(closedOnly);
  });

  it('as JPEG: the same observation, the region within a few levels, in a fraction of the bytes', async () => {
    // A smooth region (JPEG's case: a face, not noise).
    const smooth = { ...message.frame, image: { width: W, height: H, data: Uint8Array.from({ length: W * H * 3 }, (_, i) => ((i / 3) % W) >> 1) } };
    const [entry] = faceEntries({ ...message, frame: smooth }, 5, templates, 1000);
    const raw = await encodeFaceEntry(entry);
    const jpeg = await encodeFaceEntry(entry, 'jpeg');
    expect(jpeg.length).toBeLessThan(raw.length / 4);
    const back = await decodeFaceEntry(jpeg);
    expect(back.face!.observation).toEqual(entry.face!.observation);
    const [a, b] = [entry.face!.region.image.data, back.face!.region.image.data];
    expect(b.length).toBe(a.length);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    expect(worst).toBeLessThanOrEqual(8);
  });

  it('refuse bytes that are not an entry, with the reason', async () => {
    const bytes = await encodeFaceEntry(faceEntries(message, 5, templates, 1000)[0]);
    await expect(decodeFaceEntry(Buffer.from('hello world'))).rejects.toThrow(WireError);
    await expect(decodeFaceEntry(bytes.subarray(0, bytes.length - 1))).rejects.toThrow(/needs \d+ bytes after its header/);
    const badHeader = Buffer.from(bytes);
    badHeader.write('{', 8);
    badHeader.write('!', 9);
    await expect(decodeFaceEntry(badHeader)).rejects.toThrow(/not JSON/);
    const jpeg = await encodeFaceEntry(faceEntries(message, 5, templates, 1000)[0], 'jpeg');
    await expect(decodeFaceEntry(Buffer.concat([jpeg.subarray(0, jpeg.length - 200), Buffer.alloc(10)]))).rejects.toThrow(/not a JPEG|JPEG is/);
    const json = Buffer.from(JSON.stringify({ camera: 'x', epoch: '1', closed: [] }));
    const head = Buffer.alloc(8);
    head.write('UMF1', 0, 'latin1');
    head.writeUInt32LE(json.length, 4);
    await expect(decodeFaceEntry(Buffer.concat([head, json]))).rejects.toThrow(/camera, epoch/);
  });
});

describe('events', () => {
  const event: NewEvent = {
    kind: 'alert',
    camera: 'door',
    trackId: 7,
    identity: { id: 3, name: 'Ada Lovelace' },
    known: true,
    score: 0.61,
    votes: 2,
    matchedOn: 'face',
    occludedFraction: 0.31,
    frameTime: 1_733_212_345_678,
    box: { x: 1.5, y: 2, width: 60, height: 70 },
    detectorScore: 0.93,
    faceJpeg: Buffer.from([1, 2, 3]),
    inpaintedJpeg: Buffer.from([4, 5]),
    maskPng: Buffer.from([6]),
    source: { jpeg: Buffer.from([7, 8, 9, 10]), box: { x: 1, y: 2, width: 3, height: 4 }, landmarks: [{ x: 0.25, y: 0.5 }] },
  };

  it('come back from their bytes as they went, with or without their optional images', () => {
    expect(decodeEvent(encodeEvent(event))).toEqual(event);
    const { inpaintedJpeg: _i, maskPng: _m, source: _s, occludedFraction: _o, ...plain } = event;
    expect(decodeEvent(encodeEvent(plain))).toEqual(plain);
  });

  it('refuse images that do not add up', () => {
    const bytes = encodeEvent(event);
    expect(() => decodeEvent(bytes.subarray(0, bytes.length - 2))).toThrow(/add up/);
    expect(() => decodeEvent(Buffer.from('UMF1 not an event'))).toThrow(/not a UME1 entry/);
  });
});
