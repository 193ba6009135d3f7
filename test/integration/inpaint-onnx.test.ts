// The exported generator in Node: onnxruntime-node through the service's OnnxInpainter gives
// PyTorch's output (training/export_onnx.py's parity fixtures, var/onnx-parity/<model>/).
//
// The tiny random generator's fixture is written by `/usr/bin/python3 -m pytest training/tests/test_export.py`;
// when it is missing this file makes it that way, and is skipped (with the reason) where Python with
// torch and onnx is not installed. Fixtures of real exports (models/idgan-inpaint.onnx…) are checked too.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelError } from '../../src/models/onnx-model.ts';
import { OnnxInpainter } from '../../src/repair/idgan.ts';
import type { RgbImage } from '../../src/types.ts';
import { checkParity, fixtureMatchesModel, readParityFixture, type ParityFixture } from '../../training/tools/onnx_parity.ts';

const root = resolve(import.meta.dirname, '../..');
const PARITY_DIR = join(root, 'var/onnx-parity');
const TINY = join(PARITY_DIR, 'tiny-random');
const PYTHON = '/usr/bin/python3';

function havePython(modules: string): boolean {
  return existsSync(PYTHON) && spawnSync(PYTHON, ['-c', `import ${modules}`], { stdio: 'ignore' }).status === 0;
}

/** The tiny fixture, made by its pytest when missing; or why it is not there. */
function tinyFixture(): { fixture?: ParityFixture; why?: string } {
  if (!existsSync(join(TINY, 'meta.json'))) {
    if (!havePython('torch, onnx, pytest'))
      return { why: `no fixture at ${TINY}, and ${PYTHON} with torch, onnx and pytest is not there to make it` };
    const made = spawnSync(PYTHON, ['-m', 'pytest', 'training/tests/test_export.py', '-q', '-k', 'parity_fixture'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 180_000,
    });
    if (made.status !== 0) throw new Error(`making the parity fixture failed:\n${made.stdout}\n${made.stderr}`);
  }
  return { fixture: readParityFixture(TINY) };
}

const tiny = tinyFixture();
if (tiny.why) console.warn(`inpaint-onnx: tiny-model tests skipped: ${tiny.why}`);

/** Fixtures of other exports whose model is still the one they were made from (a stale one is named, not run). */
const exports = existsSync(PARITY_DIR)
  ? readdirSync(PARITY_DIR)
      .filter((name) => name !== 'tiny-random' && existsSync(join(PARITY_DIR, name, 'meta.json')))
      .map((name) => readParityFixture(join(PARITY_DIR, name)))
  : [];
for (const f of exports.filter((f) => !fixtureMatchesModel(f)))
  console.warn(`inpaint-onnx: ${f.dir} skipped: ${f.model} is missing or was exported again since (re-run export_onnx.py)`);
const currentExports = exports.filter(fixtureMatchesModel);

/** The fixture's planar float input as the byte crops and masks the service has. */
function cropsOf(f: ParityFixture): { crops: RgbImage[]; masks: Uint8Array[] } {
  const plane = f.size * f.size;
  const crops: RgbImage[] = [], masks: Uint8Array[] = [];
  for (let n = 0; n < f.batch; n++) {
    const data = new Uint8Array(plane * 3);
    for (let p = 0; p < plane; p++)
      for (let c = 0; c < 3; c++) data[p * 3 + c] = Math.round(f.image[(n * 3 + c) * plane + p] * 255);
    crops.push({ width: f.size, height: f.size, data });
    masks.push(Uint8Array.from(f.mask.subarray(n * plane, (n + 1) * plane)));
  }
  return { crops, masks };
}

describe.skipIf(!tiny.fixture)('the tiny random generator through onnxruntime-node', () => {
  const fixture = tiny.fixture!;

  it('gives PyTorch’s output within 1e-4 (batch 3 from a batch-1 export)', async () => {
    const result = await checkParity(fixture);
    expect(fixture.batch).toBe(3);
    expect(result.maxAbsDiff).toBeLessThanOrEqual(1e-4);
  });

  describe('inpaint() on byte crops', () => {
    let inpainter: OnnxInpainter;
    beforeAll(async () => {
      inpainter = await OnnxInpainter.load(fixture.model, { batchSize: 2 }); // 3 faces: two runs
    });
    afterAll(() => inpainter?.close());

    it('keeps known pixels and fills the hole with PyTorch’s numbers, across batches', async () => {
      const { crops, masks } = cropsOf(fixture);
      const out = await inpainter.inpaint(crops, masks);
      expect(out).toHaveLength(3);
      const plane = fixture.size * fixture.size;
      let holeOff = 0, knownChanged = 0;
      out.forEach((face, n) => {
        for (let p = 0; p < plane; p++)
          for (let c = 0; c < 3; c++) {
            const got = face.data[p * 3 + c];
            if (masks[n][p]) {
              const want = fixture.expected[(n * 3 + c) * plane + p] * 255;
              holeOff = Math.max(holeOff, Math.abs(got - want));
            } else if (got !== crops[n].data[p * 3 + c]) knownChanged++;
          }
      });
      expect(knownChanged).toBe(0);
      expect(holeOff).toBeLessThanOrEqual(0.5 + 255e-4); // rounding to bytes, and the tolerance
    });
  });
});

describe.skipIf(!currentExports.length)('exported models against their PyTorch fixtures', () => {
  it.each(currentExports.map((f) => [relative(root, f.model), f] as const))('%s matches PyTorch within 1e-4', async (_, fixture) => {
    expect((await checkParity(fixture)).maxAbsDiff).toBeLessThanOrEqual(1e-4);
  });
});

describe.skipIf(!havePython('onnx'))('a model that is not the generator', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'inpaint-onnx-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A one-node ONNX model (image → Identity → inpainted, mask unused) with the given input shapes. */
  function model(name: string, imageShape: (number | string)[], maskShape: (number | string)[]): string {
    const file = join(dir, name);
    const script = `
import json, sys, onnx
from onnx import helper, TensorProto
image, mask = json.loads(sys.argv[2]), json.loads(sys.argv[3])
graph = helper.make_graph(
    [helper.make_node('Identity', ['image'], ['inpainted'])], 'g',
    [helper.make_tensor_value_info('image', TensorProto.FLOAT, image), helper.make_tensor_value_info('mask', TensorProto.FLOAT, mask)],
    [helper.make_tensor_value_info('inpainted', TensorProto.FLOAT, image)])
m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
m.ir_version = 8
onnx.save(m, sys.argv[1])`;
    const made = spawnSync(PYTHON, ['-c', script, file, JSON.stringify(imageShape), JSON.stringify(maskShape)], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`making ${name} failed: ${made.stderr}`);
    return file;
  }

  it('is refused at load with the shape it has and the shape it needs', async () => {
    const small = model('small.onnx', ['batch', 3, 64, 64], ['batch', 1, 64, 64]);
    const load = OnnxInpainter.load(small);
    await expect(load).rejects.toBeInstanceOf(ModelError);
    await expect(load).rejects.toThrow(/input "image" is \[batch, 3, 64, 64\] float32, expected \[batch, 3, 128, 128\] float32/);
  });

  it('is refused when its batch is fixed at more than one face, or fixed in some tensors only', async () => {
    const fixed = model('fixed.onnx', [2, 3, 128, 128], [2, 1, 128, 128]);
    await expect(OnnxInpainter.load(fixed)).rejects.toThrow(/input "image" has a fixed batch of 2, the service needs a free batch dimension \(or one face a run\)/);
    const mixed = model('mixed.onnx', [1, 3, 128, 128], ['batch', 1, 128, 128]);
    await expect(OnnxInpainter.load(mixed)).rejects.toThrow(/some tensors have a free batch and others a batch of 1/);
  });

  it('runs a graph of one face at a time (batch fixed at 1) face by face, each face its own output', async () => {
    const oneFace = model('one-face.onnx', [1, 3, 128, 128], [1, 1, 128, 128]);
    const inpainter = await OnnxInpainter.load(oneFace);
    try {
      const plane = 128 * 128;
      const image = Float32Array.from({ length: 3 * 3 * plane }, (_, i) => Math.floor(i / (3 * plane)) / 4 + (i % 7) / 100);
      const { inpainted } = await inpainter.runTensors({ image, mask: new Float32Array(3 * plane) }, 3);
      expect(inpainted).toEqual(image);
    } finally {
      await inpainter.close();
    }
  });

  it('accepts the generator’s signature', async () => {
    const right = model('right.onnx', ['batch', 3, 128, 128], ['batch', 1, 128, 128]);
    const inpainter = await OnnxInpainter.load(right);
    await inpainter.close();
  });
});
