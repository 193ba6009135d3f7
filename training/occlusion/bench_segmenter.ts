// Time per face of the occlusion segmenter at batch 1 through the service's OnnxOcclusionSegmenter.
//
//   npx tsx training/occlusion/bench_segmenter.ts [MODEL] [--runs N] [--threads T]
import { parseArgs } from 'node:util';
import { DEFAULT_OCCLUSION_MODEL, OnnxOcclusionSegmenter } from '../../src/repair/segmenter.ts';
import { timeRuns } from '../tools/time_runs.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { runs: { type: 'string', default: '200' }, threads: { type: 'string', default: '1' } },
});
const threads = Number(values.threads);
const model = positionals[0] ?? DEFAULT_OCCLUSION_MODEL;
const segmenter = await OnnxOcclusionSegmenter.load(model, { threads });
const data = new Uint8Array(128 * 128 * 3);
for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;
const crop = { width: 128, height: 128, data };
const times = await timeRuns(() => segmenter.segment([crop]), Number(values.runs));
await segmenter.close();
const ms = (x: number) => Number(x.toFixed(2));
console.log(JSON.stringify({ model, threads, runs: times.runs, medianMs: ms(times.at(0.5)), p90Ms: ms(times.at(0.9)), minMs: ms(times.minMs) }));
