// Runs an exported ONNX model (one input, one output) in onnxruntime-node, opened as the face-api
// wrappers open it (one thread, optimisation 'all'), on a float32 input file, and prints the largest
// absolute difference from an expected output as JSON. training/ports/faceapi_to_onnx.py calls it
// after each export.
//
//   npx tsx training/ports/onnx_check.ts MODEL.onnx INPUT.f32 N,C,H,W EXPECTED.f32
import { readFileSync } from 'node:fs';
import { openRunner, singleIo } from '../../src/models/runner.ts';

function readFloats(path: string): Float32Array {
  const bytes = readFileSync(path);
  // A copy: Buffer's pool offset need not be 4-aligned; the files are little-endian, as is every host we run on.
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

const [model, inputPath, dimsText, expectedPath] = process.argv.slice(2);
if (!expectedPath) throw new Error('usage: onnx_check.ts MODEL.onnx INPUT.f32 N,C,H,W EXPECTED.f32');
const dims = dimsText.split(',').map(Number);
const input = readFloats(inputPath);
if (input.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`${inputPath} holds ${input.length} floats, not ${dimsText}`);
const expected = readFloats(expectedPath);
const runner = await openRunner(model, { threads: 1, optimization: 'all' }, { what: 'model', howToGet: 'export it first', error: (m) => new Error(m) });
try {
  const io = singleIo(runner, 'model');
  const out = (await runner.run({ [io.input]: { data: input, dims } }))[io.output];
  if (out.data.length !== expected.length) throw new Error(`the model gave ${out.data.length} values (${out.dims}), expected ${expected.length}`);
  let max = 0;
  for (let i = 0; i < out.data.length; i++) {
    const d = Math.abs(out.data[i] - expected[i]);
    if (!(d <= max)) max = d; // NaN wins
  }
  console.log(JSON.stringify({ model, dims: out.dims, maxAbsDiff: max }));
} finally {
  await runner.close();
}
