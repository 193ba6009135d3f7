// Runs a parity fixture of training/export_onnx.py through onnxruntime-node, with the service's own
// OnnxInpainter, and prints the largest absolute difference from PyTorch's output as JSON.
//
//   npx tsx training/tools/onnx_parity.ts FIXTURE_DIR
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { OnnxInpainter } from '../../src/repair/idgan.ts';

export interface ParityFixture {
  dir: string;
  /** Absolute path of the ONNX model the fixture was made with. */
  model: string;
  modelSha256: string;
  batch: number;
  size: number;
  tolerance: number;
  image: Float32Array;
  mask: Float32Array;
  expected: Float32Array;
}

export interface ParityResult {
  model: string;
  batch: number;
  maxAbsDiff: number;
  tolerance: number;
}

function readFloats(path: string, count: number): Float32Array {
  const bytes = readFileSync(path);
  if (bytes.length !== count * 4) throw new Error(`${path} has ${bytes.length} bytes, expected ${count * 4} (${count} float32 values)`);
  // A copy: Buffer's pool offset need not be 4-aligned; the files are little-endian, as is every host we run on.
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

export function readParityFixture(dir: string): ParityFixture {
  const metaPath = join(dir, 'meta.json');
  if (!existsSync(metaPath)) throw new Error(`no ${metaPath}: not a parity fixture of training/export_onnx.py`);
  const meta = JSON.parse(readFileSync(metaPath, 'utf8'));
  const { batch, size } = meta as { batch: number; size: number };
  const plane = size * size;
  return {
    dir,
    model: resolve(dir, meta.model),
    modelSha256: meta.model_sha256,
    batch,
    size,
    tolerance: meta.tolerance,
    image: readFloats(join(dir, meta.files.image), batch * 3 * plane),
    mask: readFloats(join(dir, meta.files.mask), batch * plane),
    expected: readFloats(join(dir, meta.files.expected), batch * 3 * plane),
  };
}

/** Whether the model file is still the one the fixture was made from (a re-export or a pull replaces it). */
export function fixtureMatchesModel(fixture: ParityFixture): boolean {
  return existsSync(fixture.model) && createHash('sha256').update(readFileSync(fixture.model)).digest('hex') === fixture.modelSha256;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`lengths differ: ${a.length} and ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= max)) max = d; // NaN wins: a NaN output is never "close"
  }
  return max;
}

export async function checkParity(fixture: ParityFixture): Promise<ParityResult> {
  const inpainter = await OnnxInpainter.load(fixture.model);
  try {
    const { inpainted: output } = await inpainter.runTensors({ image: fixture.image, mask: fixture.mask }, fixture.batch);
    return { model: fixture.model, batch: fixture.batch, maxAbsDiff: maxAbsDiff(output, fixture.expected), tolerance: fixture.tolerance };
  } finally {
    await inpainter.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: npx tsx training/tools/onnx_parity.ts FIXTURE_DIR');
    process.exit(2);
  }
  const fixture = readParityFixture(dir);
  if (!fixtureMatchesModel(fixture)) {
    console.error(`${fixture.model} is missing or is not the model the fixture ${dir} was made with (its sha256 differs): export again`);
    process.exit(1);
  }
  console.log(JSON.stringify(await checkParity(fixture)));
}
