// Test doubles for the gallery tests: synthetic photos (real JPEGs made with sharp) whose "faces"
// are patterned squares, a detector that knows where it drew them, and a recognizer whose
// embedding is the crop's coarse colour layout (so different patterns give different embeddings).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { dlibChipTemplate, FACEAPI_RECOGNIZER_TEMPLATE } from '../../src/align/templates.ts';
import type { Detector, Recognizer } from '../../src/models/types.ts';
import type { Box, DetectedFace, Point, RgbImage } from '../../src/types.ts';

export interface FaceSpec {
  x: number;
  y: number;
  size: number;
  /** Which "person": the pattern drawn in the square. */
  person: number;
  score?: number;
}

export interface Photo {
  bytes: Buffer;
  width: number;
  height: number;
  /** Faces as the fake detector reports them (detector order: by score, not by position). */
  faces: DetectedFace[];
}

/** A deterministic pseudo-random stream (mulberry32). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Where the recognizer template's five points lie on the unit square of the face (padding 0.25).
const PAD = 0.25;
const UNIT_POINTS = FACEAPI_RECOGNIZER_TEMPLATE.points.map((p) => ({
  x: (p.x / FACEAPI_RECOGNIZER_TEMPLATE.size) * (1 + 2 * PAD) - PAD,
  y: (p.y / FACEAPI_RECOGNIZER_TEMPLATE.size) * (1 + 2 * PAD) - PAD,
}));

/** 68 landmarks inside the box, with the five the templates use where a face's would be. */
export function landmarksFor(box: Box): Point[] {
  const points: Point[] = Array.from({ length: 68 }, (_, i) => ({
    x: box.x + box.width * (0.1 + (0.8 * (i % 9)) / 8),
    y: box.y + box.height * (0.1 + (0.8 * Math.floor(i / 9)) / 7),
  }));
  FACEAPI_RECOGNIZER_TEMPLATE.landmarkGroups.forEach(([index], k) => {
    points[index] = { x: box.x + UNIT_POINTS[k].x * box.width, y: box.y + UNIT_POINTS[k].y * box.height };
  });
  return points;
}

/** A JPEG (or another format) of a textured background with a patterned square per face. */
export async function makePhoto(
  width: number,
  height: number,
  faces: FaceSpec[],
  { format = 'jpeg', seed = 1 }: { format?: 'jpeg' | 'png'; seed?: number } = {},
): Promise<Photo> {
  const data = Buffer.alloc(width * height * 3);
  const noise = seeded(seed);
  for (let i = 0; i < width * height; i++) {
    const x = i % width, y = Math.floor(i / width);
    const base = 60 + ((x + y) % 40);
    const n = Math.floor(noise() * 10);
    data[i * 3] = base + n;
    data[i * 3 + 1] = base;
    data[i * 3 + 2] = base + 20 - n;
  }
  for (const face of faces) {
    const colours = seeded(1000 + face.person);
    const grid = Array.from({ length: 16 }, () => [colours(), colours(), colours()].map((c) => 30 + Math.floor(c * 200)));
    for (let y = face.y; y < Math.min(height, face.y + face.size); y++) {
      for (let x = face.x; x < Math.min(width, face.x + face.size); x++) {
        const cell = Math.min(3, Math.floor(((y - face.y) / face.size) * 4)) * 4 + Math.min(3, Math.floor(((x - face.x) / face.size) * 4));
        const o = (y * width + x) * 3;
        data.set(grid[cell], o);
      }
    }
  }
  const image = sharp(data, { raw: { width, height, channels: 3 } });
  const bytes = await (format === 'png' ? image.png() : image.jpeg({ quality: 95 })).toBuffer();
  const detected = faces
    .map((f, i) => {
      const box = { x: f.x, y: f.y, width: f.size, height: f.size };
      return { box, score: f.score ?? 0.95 - i * 0.01, landmarks: landmarksFor(box) };
    })
    .sort((a, b) => b.score - a.score);
  return { bytes, width, height, faces: detected };
}

/** Finds the faces registered for an image of the size it is given (sizes are unique per test photo). */
export class FakeDetector implements Detector {
  readonly id = 'fake-detector';
  calls = 0;
  private readonly bySize = new Map<string, DetectedFace[]>();

  register(photo: Pick<Photo, 'width' | 'height' | 'faces'>): this {
    this.bySize.set(`${photo.width}x${photo.height}`, photo.faces);
    return this;
  }

  async detect(image: RgbImage): Promise<DetectedFace[]> {
    this.calls++;
    return structuredClone(this.bySize.get(`${image.width}x${image.height}`) ?? []);
  }
}

export const FAKE_DIMS = 48;

/** Embedding: the crop's 4×4 grid of mean colours, centred; version "v2" scrambles it (a new model). */
export class FakeRecognizer implements Recognizer {
  readonly id = 'fake-recognizer';
  readonly dims = FAKE_DIMS;
  readonly template = dlibChipTemplate('fake-64', 64, PAD);
  embedded = 0;

  constructor(readonly version = 'v1') {}

  async embed(crops: RgbImage[]): Promise<Float32Array[]> {
    this.embedded += crops.length;
    return crops.map((crop) => {
      const v1 = colourLayout(crop);
      if (this.version === 'v1') return v1;
      const out = new Float32Array(FAKE_DIMS);
      for (let i = 0; i < FAKE_DIMS; i++) out[i] = v1[(i * 7) % FAKE_DIMS] * (i % 2 ? -1 : 1);
      return out;
    });
  }
}

function colourLayout(crop: RgbImage): Float32Array {
  const sums = new Float64Array(FAKE_DIMS);
  const counts = new Float64Array(16);
  for (let y = 0; y < crop.height; y++) {
    for (let x = 0; x < crop.width; x++) {
      const cell = Math.floor((y / crop.height) * 4) * 4 + Math.floor((x / crop.width) * 4);
      counts[cell]++;
      for (let c = 0; c < 3; c++) sums[cell * 3 + c] += crop.data[(y * crop.width + x) * 3 + c];
    }
  }
  return Float32Array.from(sums, (s, i) => s / counts[Math.floor(i / 3)] - 128);
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

/** A fresh folder for a test's gallery files, and its removal. */
export function tempDir(): { dir: string; file: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'unmask-gallery-'));
  return { dir, file: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export const TEST_SETTINGS = {
  maxImageBytes: 2 * 1024 * 1024,
  maxImagePixels: 40_000_000,
  minFaceSize: 48,
  minConfidence: 0.5,
};
