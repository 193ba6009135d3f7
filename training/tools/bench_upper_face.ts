// Time of one upper-face embedding (the ArcFace recognizer through upperFaceView), one face at a
// time as the pipeline runs it: the cost a face covered below the eyes adds to its attempt.
//
//   npx tsx training/tools/bench_upper_face.ts [--runs 100]
import { parseArgs } from 'node:util';
import { parseConfig } from '../../src/config.ts';
import { ArcFaceRecognizer } from '../../src/models/faceplugin/recognizer.ts';
import { upperFaceView } from '../../src/models/upper-face.ts';
import { timeRuns } from './time_runs.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '100' } } });
const arcFace = await ArcFaceRecognizer.load();
const view = upperFaceView(arcFace, parseConfig({}).match.upperFace.visibleHeight);
const size = view.template.size;
const crop = { width: size, height: size, data: new Uint8Array(size * size * 3).map((_, i) => (i * 37) & 255) };
const times = await timeRuns(() => view.embed([crop]), Number(values.runs));
console.log(`upper-face embedding (${view.id}), batch 1, ${times.runs} runs: median ${times.at(0.5).toFixed(1)} ms, p90 ${times.at(0.9).toFixed(1)} ms`);
await arcFace.close();
