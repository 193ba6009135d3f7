import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelError } from '../../src/models/onnx-model.ts';
import { fromOutputTensor, OnnxInpainter, toInputTensors } from '../../src/repair/idgan.ts';
import type { RgbImage } from '../../src/types.ts';

function image(size: number, fill: (p: number, c: number) => number): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let p = 0; p < size * size; p++) for (let c = 0; c < 3; c++) data[p * 3 + c] = fill(p, c);
  return { width: size, height: size, data };
}

describe('toInputTensors', () => {
  it('lays a batch out as the model takes it: planar RGB, byte / 255, the mask as 0/1', () => {
    const a = image(2, (p, c) => 10 * p + c); // pixel p: (10p, 10p + 1, 10p + 2)
    const b = image(2, () => 255);
    const { image: x, mask } = toInputTensors([a, b], [Uint8Array.of(0, 1, 0, 0), Uint8Array.of(1, 1, 0, 1)], 2);
    const bytes = Array.from(x, (v) => Math.round(v * 255));
    expect(bytes.slice(0, 12)).toEqual([0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32]);
    expect(bytes.slice(12)).toEqual(new Array(12).fill(255));
    expect(x[1]).toBeCloseTo(10 / 255, 7);
    expect(Array.from(mask)).toEqual([0, 1, 0, 0, 1, 1, 0, 1]);
  });

  it('comes back to the same bytes through fromOutputTensor', () => {
    const crop = image(128, (p, c) => (p * 7 + c * 31) % 256);
    const { image: x } = toInputTensors([crop], [new Uint8Array(128 * 128)], 128);
    expect(fromOutputTensor(x, 1, 128)[0]).toEqual(crop);
  });

  it('refuses crops of another size and masks that are not one 0-or-1 byte per pixel', () => {
    const crop = image(4, () => 0);
    expect(() => toInputTensors([crop], [new Uint8Array(16)], 8)).toThrow(/crop 0 is 4×4 .* takes 8×8 RGB crops/);
    expect(() => toInputTensors([crop], [new Uint8Array(15)], 4)).toThrow(/mask 0 has 15 values, expected 16/);
    expect(() => toInputTensors([crop], [new Uint8Array(16).fill(255)], 4)).toThrow(/holds 255 at pixel 0: masks are 1 inside the hole/);
    expect(() => toInputTensors([crop, crop], [new Uint8Array(16)], 4)).toThrow(/2 crops but 1 masks/);
  });
});

describe('fromOutputTensor', () => {
  it('rounds to bytes and clamps what falls outside 0…1', () => {
    // One 1×1 face: planes R, G, B.
    expect(Array.from(fromOutputTensor(Float32Array.of(-0.2, 0.5, 1.3), 1, 1)[0].data)).toEqual([0, 128, 255]);
    expect(() => fromOutputTensor(new Float32Array(5), 1, 1)).toThrow(/5 values, expected 3/);
  });
});

describe('OnnxInpainter.load', () => {
  it('says how to make the model when the file is missing', async () => {
    const load = OnnxInpainter.load('var/no-such-dir/idgan-inpaint.onnx');
    await expect(load).rejects.toBeInstanceOf(ModelError);
    await expect(load).rejects.toThrow(/no inpainting model at var\/no-such-dir\/idgan-inpaint\.onnx: train the generator .*export_onnx\.py/);
  });

  it('says when the file is not an ONNX model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inpaint-onnx-'));
    try {
      const file = join(dir, 'model.onnx');
      writeFileSync(file, 'this is not a model');
      await expect(OnnxInpainter.load(file)).rejects.toThrow(/model\.onnx is not an ONNX model onnxruntime can load/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a batch size below 1', async () => {
    await expect(OnnxInpainter.load('any.onnx', { batchSize: 0 })).rejects.toThrow(/batchSize must be a whole number, 1 or more/);
  });
});
