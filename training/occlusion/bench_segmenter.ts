// Time per face of the occlusion segmenter at batch 1 through the service's OnnxOcclusionSegmenter.
//
//   npx tsx training/occlusion/bench_segmenter.ts [MODEL] [--runs N] [--threads T]
import { parseArgs } from 'node:util';
import { DEFAULT_OCCLUSION_MODEL, OnnxOcclusionSegmenter } from '../../src/models/occlusion/onnx.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { runs: { type: 'string', default: '200' }, threads: { type: 'string', default: '1' } },
});
const runs = Number(values.runs), threads = Number(values.threads);
if (!(Number.isInteger(runs) && runs > 0)) throw new Error(`--runs must be a whole number above 0, got ${values.runs}`);
const model = positionals[0] ?? DEFAULT_OCCLUSION_MODEL;
const segmenter = await OnnxOcclusionSegmenter.load(model, { threads });
const data = new Uint8Array(128 * 128 * 3);
for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;
const crop = { width: 128, height: 128, data };
for (let i = 0; i < 10; i++) await segmenter.segment([crop]); // warm-up
const times: number[] = [];
for (let i = 0; i < runs; i++) {
  const start = performance.now();
  await segmenter.segment([crop]);
  times.push(performance.now() - start);
}
await segmenter.close();
times.sort((a, b) => a - b);
const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(2);
console.log(JSON.stringify({ model, threads, runs, medianMs: Number(at(0.5)), p90Ms: Number(at(0.9)), minMs: Number(times[0].toFixed(2)) }));
