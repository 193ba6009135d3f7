import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { applySimilarity, invertSimilarity, type Similarity } from '../../src/align/similarity.ts';
import { INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { registerInpaintCommand } from '../../src/cli/inpaint.ts';
import type { Inpainter } from '../../src/models/types.ts';
import type { Detector } from '../../src/models/types.ts';
import type { DetectedFace, RgbImage } from '../../src/types.ts';

const W = 320, H = 240;
const GREEN = [10, 200, 30];

/** Seeded noise: a pixel that is touched shows. */
function noisePhoto(): RgbImage {
  const data = new Uint8Array(W * H * 3);
  let s = 5;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = s >>> 24;
  }
  return { width: W, height: H, data };
}

/** A face whose 5 alignment landmarks put it at `photoToCrop` exactly. */
function faceAt(photoToCrop: Similarity, score = 0.9): DetectedFace {
  const toPhoto = invertSimilarity(photoToCrop);
  const centre = applySimilarity(toPhoto, { x: 64, y: 64 });
  const landmarks = Array.from({ length: 68 }, () => centre);
  INPAINT_TEMPLATE.landmarkGroups.forEach(([index], i) => (landmarks[index] = applySimilarity(toPhoto, INPAINT_TEMPLATE.points[i])));
  const topLeft = applySimilarity(toPhoto, { x: 20, y: 20 });
  return { score, box: { x: topLeft.x, y: topLeft.y, width: 88 / photoToCrop.a, height: 88 / photoToCrop.a }, landmarks };
}

/** Answers with the given faces in the photo's coordinates, whatever border detectWithBorder adds. */
class FakeDetector implements Detector {
  readonly id = 'fake-ssd';
  faces: DetectedFace[] = [];
  async detect(image: RgbImage): Promise<DetectedFace[]> {
    const pad = (image.width - W) / 2;
    return this.faces.map((f) => ({
      ...f,
      box: { ...f.box, x: f.box.x + pad, y: f.box.y + pad },
      landmarks: f.landmarks.map((p) => ({ x: p.x + pad, y: p.y + pad })),
    }));
  }
}

/** Paints the hole green and remembers what it was given. */
class FakeInpainter implements Inpainter {
  readonly id = 'fake-inpainter';
  readonly version = 'v0';
  readonly size = 128;
  calls: { crops: RgbImage[]; masks: Uint8Array[] }[] = [];
  closed = false;
  async inpaint(crops: RgbImage[], masks: Uint8Array[]): Promise<RgbImage[]> {
    this.calls.push({ crops, masks });
    return crops.map((crop, n) => {
      const data = new Uint8Array(crop.data);
      masks[n].forEach((m, p) => m && data.set(GREEN, p * 3));
      return { ...crop, data };
    });
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

async function readRgb(file: string): Promise<RgbImage> {
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

describe('unmask inpaint', () => {
  // Scale 0.8, a slight tilt: the face's crop covers photo x ≈ 60…220, y ≈ 40…200.
  const placement: Similarity = { a: 0.8 * Math.cos(0.1), b: 0.8 * Math.sin(0.1), tx: -50, ty: -45 };
  let dir: string;
  let photoFile: string;
  let photo: RgbImage;
  let detector: FakeDetector;
  let inpainter: FakeInpainter;
  let modelsLoaded: number;
  let stdout: string, stderr: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'inpaint-cli-'));
    photo = noisePhoto();
    photoFile = join(dir, 'photo.png');
    await sharp(photo.data, { raw: { width: W, height: H, channels: 3 } }).png().toFile(photoFile);
    detector = new FakeDetector();
    detector.faces = [faceAt(placement)];
    inpainter = new FakeInpainter();
    modelsLoaded = 0;
    stdout = stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function unmask(args: string[], loadInpainter?: (path: string) => Promise<Inpainter>): Promise<number> {
    process.exitCode = undefined;
    const program = new Command().exitOverride();
    const maskLandmarker = { id: 'unused', locate: async () => [] };
    registerInpaintCommand(program, {
      loadModels: async () => {
        modelsLoaded++;
        return { enrollDetector: detector, maskLandmarker, close: async () => {} };
      },
      // The command names the file (--model) in the config it passes.
      loadInpainter: async (config) => (loadInpainter ? loadInpainter(config.inpaint.model) : inpainter),
    });
    await program.parseAsync(['inpaint', ...args], { from: 'user' });
    return Number(process.exitCode ?? 0);
  }

  it('repairs the box and leaves every other pixel of the photo as it was', async () => {
    const out = join(dir, 'out', 'repaired.png'); // the folder is made
    expect(await unmask([photoFile, '--out', out, '--box', '110,100,50,30'])).toBe(0);
    const result = await readRgb(out);
    let changedOutside = 0;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const inBox = x >= 110 && x < 160 && y >= 100 && y < 130;
        const i = (y * W + x) * 3;
        const same = [0, 1, 2].every((c) => result.data[i + c] === photo.data[i + c]);
        if (!inBox && !same) changedOutside++;
      }
    expect(changedOutside).toBe(0);
    // Deep inside, the inpainted face (green here) replaces the photo.
    expect(Array.from(result.data.subarray((115 * W + 135) * 3, (115 * W + 135) * 3 + 3))).toEqual(GREEN);

    // The inpainter saw the 128×128 crop with the box carried into it: 50×30 photo px at scale 0.8.
    const [{ crops, masks }] = inpainter.calls;
    expect(crops[0]).toMatchObject({ width: 128, height: 128 });
    const area = masks[0].reduce((sum, m) => sum + m, 0);
    expect(area).toBeGreaterThan(50 * 30 * 0.64 * 0.9);
    expect(area).toBeLessThan(50 * 30 * 0.64 * 1.1);
    const centre = applySimilarity(placement, { x: 135, y: 115 });
    expect(masks[0][Math.floor(centre.y) * 128 + Math.floor(centre.x)]).toBe(1);
    expect(inpainter.closed).toBe(true);
    expect(stdout).toMatch(/repaired\.png: 1500 pixels repaired \(\d+ of the 128×128 face crop inpainted by fake-inpainter v0\)/);
  });

  it('takes a mask image drawn on the photo (white = hole) as it takes the same box', async () => {
    const mask = new Uint8Array(W * H);
    for (let y = 100; y < 130; y++) mask.fill(255, y * W + 110, y * W + 160);
    const maskFile = join(dir, 'mask.png');
    await sharp(mask, { raw: { width: W, height: H, channels: 1 } }).png().toFile(maskFile);
    expect(await unmask([photoFile, '--out', join(dir, 'by-mask.png'), '--mask', maskFile])).toBe(0);
    expect(await unmask([photoFile, '--out', join(dir, 'by-box.png'), '--box', '110,100,50,30'])).toBe(0);
    const [byMask, byBox] = [await readRgb(join(dir, 'by-mask.png')), await readRgb(join(dir, 'by-box.png'))];
    expect(Buffer.compare(byMask.data, byBox.data)).toBe(0);
    expect(Buffer.compare(byMask.data, photo.data)).not.toBe(0);
  });

  it('asks for --face N when the photo shows several faces, and repairs the one picked (left to right from 0)', async () => {
    const right: Similarity = { ...placement, tx: placement.tx - 120 }; // 150 photo px further right
    detector.faces = [faceAt(right, 0.95), faceAt(placement, 0.9)];
    expect(await unmask([photoFile, '--out', join(dir, 'x.png'), '--box', '110,100,50,30'])).toBe(1);
    expect(stderr).toMatch(/shows 2 faces; say which one with --face N:\n {2}face 0: .*score 0\.90\n {2}face 1: .*score 0\.95/);
    expect(await unmask([photoFile, '--out', join(dir, 'x.png'), '--box', '110,100,50,30', '--face', '0'])).toBe(0);
    expect(inpainter.calls).toHaveLength(1);
    expect(await unmask([photoFile, '--out', join(dir, 'x.png'), '--box', '110,100,50,30', '--face', '2'])).toBe(1);
    expect(stderr).toContain('--face 2, but');
  });

  it('says so when no face is confident enough', async () => {
    detector.faces = [faceAt(placement, 0.4)];
    expect(await unmask([photoFile, '--out', join(dir, 'x.png'), '--box', '110,100,50,30'])).toBe(1);
    expect(stderr).toMatch(/no face found in .*photo\.png at confidence 0\.5; the best candidate scored 0\.40/);
  });

  it('refuses a hole that misses the face crop', async () => {
    expect(await unmask([photoFile, '--out', join(dir, 'x.png'), '--box', '280,5,30,20'])).toBe(1);
    expect(stderr).toContain('the hole does not reach the face');
  });

  it('checks what it was asked before loading any model', async () => {
    expect(await unmask([photoFile, '--out', join(dir, 'x.png'), '--occlusion-model', join(dir, 'none.onnx')])).toBe(1);
    expect(stderr).toContain('say where the hole is: --mask MASK');
    expect(await unmask([photoFile, '--out', join(dir, 'x.gif'), '--box', '1,1,5,5'])).toBe(1);
    expect(stderr).toMatch(/--out .*x\.gif: the name must end in \.png/);
    expect(await unmask([photoFile, '--out', join(dir, 'x.png'), '--box', '1,1,5,5', '--mask', photoFile])).toBe(1);
    expect(stderr).toContain('either --mask or --box, not both');
    const smallMask = join(dir, 'small.png');
    await sharp(new Uint8Array(100), { raw: { width: 10, height: 10, channels: 1 } }).png().toFile(smallMask);
    expect(await unmask([photoFile, '--out', join(dir, 'x.png'), '--mask', smallMask])).toBe(1);
    expect(stderr).toMatch(/small\.png is 10×10, the photo 320×240: draw the mask on the photo itself/);
    expect(modelsLoaded).toBe(0);
    expect(inpainter.calls).toHaveLength(0);
  });

  it('says how to get the model when its file is missing, before starting the detector', async () => {
    const { OnnxInpainter } = await import('../../src/repair/idgan.ts');
    const missing = join(dir, 'none.onnx');
    const code = await unmask([photoFile, '--out', join(dir, 'x.png'), '--box', '110,100,50,30', '--model', missing], (p) => OnnxInpainter.load(p));
    expect(code).toBe(1);
    expect(stderr).toMatch(/no inpainting model at .*none\.onnx: train the generator \(training\/README\.md\) and export it with/);
    expect(modelsLoaded).toBe(0);
  });
});
