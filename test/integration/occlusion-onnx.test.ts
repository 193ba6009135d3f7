// The exported occlusion segmenter in Node: onnxruntime-node through the service's
// OnnxOcclusionSegmenter gives PyTorch's output (export_occlusion.py's parity fixtures in
// var/occlusion-parity/<model>/).
//
// The tiny random model's fixture is written by `/usr/bin/python3 -m pytest training/tests/test_occlusion_export.py`;
// when it is missing this file makes it that way, and is skipped (with the reason) where Python with
// torch and onnx is not there. The fixture of the real export (models/occlusion-seg.onnx) is checked
// when it is there and still matches the model.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelError } from '../../src/models/onnx-model.ts';
import { OnnxOcclusionSegmenter } from '../../src/repair/segmenter.ts';
import type { RgbImage } from '../../src/types.ts';
import {
  checkOcclusionParity,
  fixtureMatchesModel,
  readOcclusionFixture,
  type OcclusionParityFixture,
} from '../../training/occlusion/onnx_parity.ts';

const root = resolve(import.meta.dirname, '../..');
const PARITY_DIR = join(root, 'var/occlusion-parity');
const TINY = join(PARITY_DIR, 'tiny-random');
const PYTHON = '/usr/bin/python3';

function tinyFixture(): { fixture?: OcclusionParityFixture; why?: string } {
  if (!existsSync(join(TINY, 'meta.json'))) {
    const havePython = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch, onnx, pytest, cv2'], { stdio: 'ignore' }).status === 0;
    if (!havePython) return { why: `no fixture at ${TINY}, and ${PYTHON} with torch, onnx, opencv and pytest is not there to make it` };
    const made = spawnSync(PYTHON, ['-m', 'pytest', 'training/tests/test_occlusion_export.py', '-q', '-k', 'parity_fixture'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 180_000,
    });
    if (made.status !== 0) throw new Error(`making the occlusion parity fixture failed:\n${made.stdout}\n${made.stderr}`);
  }
  return { fixture: readOcclusionFixture(TINY) };
}

const tiny = tinyFixture();
if (tiny.why) console.warn(`occlusion-onnx: tiny-model tests skipped: ${tiny.why}`);

const exports = existsSync(PARITY_DIR)
  ? readdirSync(PARITY_DIR)
      .filter((name) => name !== 'tiny-random' && existsSync(join(PARITY_DIR, name, 'meta.json')))
      .map((name) => readOcclusionFixture(join(PARITY_DIR, name)))
  : [];
for (const f of exports.filter((f) => !fixtureMatchesModel(f)))
  console.warn(`occlusion-onnx: ${f.dir} skipped: ${f.model} is missing or was exported again since (re-run export_occlusion.py)`);
const currentExports = exports.filter(fixtureMatchesModel);

/** The fixture's planar float input as the byte crops the service has (the fixture's values are bytes / 255). */
function cropsOf(f: OcclusionParityFixture): RgbImage[] {
  const plane = f.size * f.size;
  return Array.from({ length: f.batch }, (_, n) => {
    const data = new Uint8Array(plane * 3);
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) data[p * 3 + c] = Math.round(f.image[(n * 3 + c) * plane + p] * 255);
    return { width: f.size, height: f.size, data };
  });
}

describe.skipIf(!tiny.fixture)('the tiny random segmenter through onnxruntime-node', () => {
  const fixture = tiny.fixture!;

  it('gives PyTorch’s output within 1e-4 (batch 3 from a batch-1 export)', async () => {
    const result = await checkOcclusionParity(fixture);
    expect(fixture.batch).toBe(3);
    expect(result.maxAbsDiff).toBeLessThanOrEqual(1e-4);
  });

  it('segment() on byte crops, in batches of 2, gives the same probabilities per face', async () => {
    const segmenter = await OnnxOcclusionSegmenter.load(fixture.model, { batchSize: 2 });
    try {
      const maps = await segmenter.segment(cropsOf(fixture));
      expect(maps).toHaveLength(3);
      const plane = fixture.size * fixture.size;
      maps.forEach((m, n) => {
        expect(m).toHaveLength(plane);
        let max = 0;
        for (let p = 0; p < plane; p++) max = Math.max(max, Math.abs(m[p] - fixture.expected[n * plane + p]));
        expect(max).toBeLessThanOrEqual(1e-4);
      });
    } finally {
      await segmenter.close();
    }
  });
});

describe('loading', () => {
  it('says how to get the model when the file is missing', async () => {
    await expect(OnnxOcclusionSegmenter.load('/nonexistent/occlusion-seg.onnx')).rejects.toThrow(ModelError);
    await expect(OnnxOcclusionSegmenter.load('/nonexistent/occlusion-seg.onnx')).rejects.toThrow(/export_occlusion\.py/);
  });

  it('refuses a file that is not an ONNX model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'occlusion-onnx-'));
    try {
      writeFileSync(join(dir, 'bad.onnx'), 'not a model');
      await expect(OnnxOcclusionSegmenter.load(join(dir, 'bad.onnx'))).rejects.toThrow(/not an ONNX model onnxruntime can load/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const inpaintTiny = join(root, 'var/onnx-parity/tiny-random/model.onnx');
  it.skipIf(!existsSync(inpaintTiny))('refuses another model (the inpainting generator) by its inputs', async () => {
    await expect(OnnxOcclusionSegmenter.load(inpaintTiny)).rejects.toThrow(/no output "occlusion"|is not the occlusion segmenter/);
  });
});

describe.skipIf(currentExports.length === 0)('exported segmenters', () => {
  for (const fixture of currentExports) {
    it(`${fixture.model}: PyTorch’s output within 1e-4`, async () => {
      const result = await checkOcclusionParity(fixture);
      expect(result.maxAbsDiff).toBeLessThanOrEqual(fixture.tolerance);
    });
  }
});
