// Time of one upper-face embedding (the ArcFace recognizer through upperFaceView), one face at a
// time as the pipeline runs it: the cost a face covered below the eyes adds to its attempt.
//
//   npx tsx training/tools/bench_upper_face.ts [--runs 100]
import { parseArgs } from 'node:util';
import { parseConfig } from '../../src/config.ts';
import { ArcFaceRecognizer } from '../../src/models/arcface/recognizer.ts';
import { upperFaceView } from '../../src/models/upper-face.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '100' } } });
const runs = Number(values.runs);
const arcFace = await ArcFaceRecognizer.load();
const view = upperFaceView(arcFace, parseConfig({}).match.upperFace.visibleHeight);
const size = view.template.size;
const crop = { width: size, height: size, data: new Uint8Array(size * size * 3).map((_, i) => (i * 37) & 255) };
for (let i = 0; i < 10; i++) await view.embed([crop]); // warm-up
const ms: number[] = [];
for (let i = 0; i < runs; i++) {
  const start = performance.now();
  await view.embed([crop]);
  ms.push(performance.now() - start);
}
ms.sort((a, b) => a - b);
const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))].toFixed(1);
console.log(`upper-face embedding (${view.id}), batch 1, ${runs} runs: median ${at(0.5)} ms, p90 ${at(0.9)} ms`);
await arcFace.close();
