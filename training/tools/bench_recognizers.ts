// Time of one embedding per face, each recognizer in this thread, batch 1 and 8 (synthetic crops: the
// time does not depend on the pixels).
//
//   npx tsx training/tools/bench_recognizers.ts
import { ArcFaceRecognizer } from '../../src/embed/arcface.ts';
import { FaceApiOnnxRecognizer } from '../../src/embed/faceapi.ts';
import { timeRuns } from './time_runs.ts';
const tex = (s: number) => ({ width: s, height: s, data: new Uint8Array(s * s * 3).map((_, i) => (i * 37) & 255) });
for (const [name, r] of [['arcface', await ArcFaceRecognizer.load()], ['faceapi', await FaceApiOnnxRecognizer.load()]] as const) {
  for (const batch of [1, 8]) {
    const crops = Array.from({ length: batch }, () => tex(r.template.size));
    const t = await timeRuns(() => r.embed(crops), 40);
    console.log(`${name} batch ${batch}: per face p50 ${(t.at(0.5) / batch).toFixed(1)} ms, p95 ${(t.at(0.95) / batch).toFixed(1)} ms`);
  }
  await r.close();
}
