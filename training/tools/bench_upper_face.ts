// Time of what a face covered below the eyes adds to its attempt, one face at a time as the pipeline
// runs it: locating its eyes (faceplugin's landmark model, match.upperFace.eyes) and one upper-face
// embedding (the ArcFace recognizer through upperFaceView).
//
//   npx tsx training/tools/bench_upper_face.ts [--runs 100]
import { parseArgs } from 'node:util';
import { parseConfig } from '../../src/config.ts';
import { FacepluginLandmarker } from '../../src/detect/faceplugin-landmarks.ts';
import { ArcFaceRecognizer } from '../../src/embed/arcface.ts';
import { upperFaceView } from '../../src/embed/upper-face.ts';
import { timeRuns } from './time_runs.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '100' } } });
const runs = Number(values.runs);
const textured = (width: number, height: number) => ({ width, height, data: new Uint8Array(width * height * 3).map((_, i) => (i * 37) & 255) });

const arcFace = await ArcFaceRecognizer.load();
const view = upperFaceView(arcFace, parseConfig({}).match.upperFace.visibleHeight);
const crop = textured(view.template.size, view.template.size);
const embedding = await timeRuns(() => view.embed([crop]), runs);
console.log(`upper-face embedding (${view.id}), batch 1, ${embedding.runs} runs: median ${embedding.at(0.5).toFixed(1)} ms, p90 ${embedding.at(0.9).toFixed(1)} ms`);
await arcFace.close();

const landmarker = await FacepluginLandmarker.load();
const frame = textured(640, 360);
const box = { x: 250, y: 90, width: 120, height: 140 };
const eyes = await timeRuns(() => landmarker.locate(frame, box), runs);
console.log(`eye landmarks (${landmarker.id}), one face, ${eyes.runs} runs: median ${eyes.at(0.5).toFixed(2)} ms, p90 ${eyes.at(0.9).toFixed(2)} ms`);
await landmarker.close();
