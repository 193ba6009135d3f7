// `unmask inpaint` without --mask or --box: the occlusion segmenter finds the hole; --save-mask writes it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { applySimilarity, invertSimilarity, type Similarity } from '../../src/align/similarity.ts';
import { INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { registerInpaintCommand } from '../../src/cli/inpaint.ts';
import type { Inpainter } from '../../src/models/types.ts';
import type { OcclusionSegmenter } from '../../src/models/types.ts';
import type { Box, DetectedFace, RgbImage } from '../../src/types.ts';

const W = 320, H = 240;
const FILL = [10, 200, 30];
// Scale 0.8, no tilt: photo (x, y) → crop (0.8x − 50, 0.8y − 45).
const PLACEMENT: Similarity = { a: 0.8, b: 0, tx: -50, ty: -45 };
/** The crop rows the fake segmenter flags: the lower face. */
const ROWS = [80, 112] as const;

function noisePhoto(): RgbImage {
  const data = new Uint8Array(W * H * 3);
  let s = 11;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = s >>> 24;
  }
  return { width: W, height: H, data };
}

/** A face whose alignment landmarks put it at PLACEMENT exactly; the other landmarks outline the crop's face. */
function face(): DetectedFace {
  const toPhoto = invertSimilarity(PLACEMENT);
  const landmarks = Array.from({ length: 68 }, (_, i) => {
    const t = (2 * Math.PI * i) / 68;
    return applySimilarity(toPhoto, { x: 64 + 40 * Math.cos(t), y: 70 + 48 * Math.sin(t) });
  });
  INPAINT_TEMPLATE.landmarkGroups.forEach(([index], i) => (landmarks[index] = applySimilarity(toPhoto, INPAINT_TEMPLATE.points[i])));
  return { score: 0.9, box: { x: 80, y: 70, width: 120, height: 120 }, landmarks };
}

class FakeSegmenter implements OcclusionSegmenter {
  readonly id = 'fake-seg';
  readonly version = 'v0';
  readonly size = 128;
  occluded = true;
  closed = false;
  async segment(crops: RgbImage[]): Promise<Float32Array[]> {
    return crops.map(() => Float32Array.from({ length: 128 * 128 }, (_, p) => (this.occluded && p >= ROWS[0] * 128 && p < ROWS[1] * 128 ? 0.8 : 0.2)));
  }
  async close() {
    this.closed = true;
  }
}

class FakeInpainter implements Inpainter {
  readonly id = 'fake-inpainter';
  readonly version = 'v0';
  readonly size = 128;
  masks: Uint8Array[] = [];
  async inpaint(crops: RgbImage[], masks: Uint8Array[]): Promise<RgbImage[]> {
    this.masks.push(...masks);
    return crops.map((crop, n) => {
      const data = new Uint8Array(crop.data);
      masks[n].forEach((m, p) => m && data.set(FILL, p * 3));
      return { ...crop, data };
    });
  }
  async close() {}
}

async function readRaw(file: string): Promise<{ width: number; height: number; channels: number; data: Uint8Array }> {
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels, data: new Uint8Array(data) };
}

describe('unmask inpaint with the occlusion segmenter', () => {
  let dir: string, photoFile: string, modelFile: string;
  let photo: RgbImage;
  let segmenter: FakeSegmenter, inpainter: FakeInpainter;
  let stdout: string, stderr: string;
  let modelsLoaded: number;
  /** What the fake landmark model gives: the face's own landmarks, this many photo pixels lower. */
  let landmarkShift: number;
  let landmarkerBoxes: Box[];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'occlusion-cli-'));
    photo = noisePhoto();
    photoFile = join(dir, 'photo.png');
    await sharp(photo.data, { raw: { width: W, height: H, channels: 3 } }).png().toFile(photoFile);
    modelFile = join(dir, 'seg.onnx');
    writeFileSync(modelFile, 'the fake loader does not read it');
    segmenter = new FakeSegmenter();
    inpainter = new FakeInpainter();
    stdout = stderr = '';
    modelsLoaded = 0;
    landmarkShift = 0;
    landmarkerBoxes = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function unmask(args: string[]): Promise<number> {
    process.exitCode = undefined;
    const program = new Command().exitOverride();
    registerInpaintCommand(program, {
      loadModels: async () => {
        modelsLoaded++;
        const pad = async (image: RgbImage) => {
          const p = (image.width - W) / 2; // 0: the photo as it is
          const f = face();
          return [{ ...f, box: { ...f.box, x: f.box.x + p, y: f.box.y + p }, landmarks: f.landmarks.map((q) => ({ x: q.x + p, y: q.y + p })) }];
        };
        const maskLandmarker = {
          id: 'fake-landmarks',
          locate: async (_image: RgbImage, box: Box) => (landmarkerBoxes.push(box), face().landmarks.map((q) => ({ x: q.x, y: q.y + landmarkShift }))),
        };
        return { enrollDetector: { id: 'fake-detector', detect: pad }, maskLandmarker, close: async () => {} };
      },
      loadInpainter: async () => inpainter,
      loadSegmenter: async () => segmenter,
    });
    await program.parseAsync(['inpaint', ...args], { from: 'user' });
    return Number(process.exitCode ?? 0);
  }

  it('inpaints what the segmenter found and saves that mask in the photo’s pixels', async () => {
    const out = join(dir, 'out.png'), maskFile = join(dir, 'found', 'mask.png');
    expect(await unmask([photoFile, '--out', out, '--occlusion-model', modelFile, '--save-mask', maskFile])).toBe(0);
    expect(segmenter.closed).toBe(true);
    // The crop rows 80…112, grown by occlusion.dilatePx (2), went to the inpainter.
    const [mask] = inpainter.masks;
    expect(mask.reduce((s, v) => s + v, 0)).toBe((ROWS[1] - ROWS[0] + 4) * 128);
    // In the photo: crop row v is photo row (v + 45) / 0.8; crop columns 0…128 are photo x 62.5…222.5.
    const saved = await readRaw(maskFile);
    expect(saved).toMatchObject({ width: W, height: H });
    const white = (x: number, y: number) => saved.data[(y * W + x) * saved.channels] === 255;
    expect(white(140, Math.round((96 + 45) / 0.8))).toBe(true);
    expect(white(140, Math.round((60 + 45) / 0.8))).toBe(false);
    expect(white(20, Math.round((96 + 45) / 0.8))).toBe(false); // left of the crop
    // Only the found hole changed in the output photo.
    const result = await readRaw(out);
    let changedOutside = 0, changedInside = 0;
    for (let p = 0; p < W * H; p++) {
      const same = [0, 1, 2].every((c) => result.data[p * 3 + c] === photo.data[p * 3 + c]);
      if (saved.data[p * saved.channels] === 255) changedInside += same ? 0 : 1;
      else changedOutside += same ? 0 : 1;
    }
    expect(changedOutside).toBe(0);
    expect(changedInside).toBeGreaterThan(5000);
    expect(stdout).toMatch(/occlusion found on \d+\.\d % of the face area/);
  });

  it('finds the hole on a crop aligned on the landmark model’s points (occlusion.landmarks), or on the detector’s', async () => {
    const rowsOfMask = async (args: string[]) => {
      const maskFile = join(dir, `mask-${Math.random()}.png`);
      expect(await unmask([photoFile, '--out', join(dir, 'o.png'), '--occlusion-model', modelFile, '--save-mask', maskFile, ...args])).toBe(0);
      const saved = await readRaw(maskFile);
      const rows: number[] = [];
      for (let y = 0; y < H; y++) if (saved.data[(y * W + 140) * saved.channels] === 255) rows.push(y);
      return rows;
    };
    const unshifted = await rowsOfMask([]); // the model gives the detector's points
    landmarkShift = 10;
    const shifted = await rowsOfMask([]);
    // The landmark model was asked about the detector's box, and its points moved the crop, hence the hole.
    expect(landmarkerBoxes.at(-1)).toEqual(face().box);
    expect(shifted[0]).toBe(unshifted[0] + 10);
    const configFile = join(dir, 'detector-landmarks.yaml');
    writeFileSync(configFile, 'occlusion:\n  landmarks: detector\n');
    const asked = landmarkerBoxes.length;
    expect(await rowsOfMask(['--config', configFile])).toEqual(unshifted);
    expect(landmarkerBoxes).toHaveLength(asked);
  });

  it('writes a clean face’s photo unchanged, with an empty mask, without inpainting', async () => {
    segmenter.occluded = false;
    const out = join(dir, 'out.png'), maskFile = join(dir, 'mask.png');
    expect(await unmask([photoFile, '--out', out, '--occlusion-model', modelFile, '--save-mask', maskFile])).toBe(0);
    expect(inpainter.masks).toHaveLength(0);
    expect(Buffer.compare((await readRaw(out)).data, photo.data)).toBe(0);
    expect((await readRaw(maskFile)).data.every((v) => v === 0)).toBe(true);
    expect(stdout).toContain('no occlusion found on the face, the photo is written unchanged');
  });

  it('--save-mask also writes a given box', async () => {
    const maskFile = join(dir, 'mask.png');
    expect(await unmask([photoFile, '--out', join(dir, 'o.png'), '--box', '110,100,50,30', '--save-mask', maskFile])).toBe(0);
    const saved = await readRaw(maskFile);
    let white = 0;
    for (let p = 0; p < W * H; p++) white += saved.data[p * saved.channels] === 255 ? 1 : 0;
    expect(white).toBe(50 * 30);
  });

  it('without a hole and without the segmenter’s file, says what to give, before loading models', async () => {
    expect(await unmask([photoFile, '--out', join(dir, 'o.png'), '--occlusion-model', join(dir, 'none.onnx')])).toBe(1);
    expect(stderr).toMatch(/say where the hole is: .*no occlusion model at .*none\.onnx/);
    expect(await unmask([photoFile, '--out', join(dir, 'o.png'), '--occlusion-model', modelFile, '--save-mask', join(dir, 'm.jpg')])).toBe(1);
    expect(stderr).toContain('must end in .png');
    expect(modelsLoaded).toBe(0);
  });
});
