// How FACERES_GEOMETRY's points were measured (faceres.ts): run Human's own face pipeline
// (BlazeFace, rotation correction off as by default, mesh off so the returned box is the crop it
// feeds faceres) on LFW images, and take the median place of our detector's five points in that
// crop, scaled to 224. Offline: Human's model files are served to its fetch from node_modules.
//
//   npx tsx src/eval/recognizers/measure-faceres-template.ts LFW_DIR PAIRS_FILE [N]
//
// The first image of each of the first N pairs is used (faceres.ts: View 1's images_deepfunneled,
// pairsDevTrain.txt, N = 200).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { detectWithBorder, pickCentralFace } from '../../dataset/align.ts';
import { decodeImage } from '../../../src/gallery/enroll.ts';
import { FaceApiDetector } from '../../tfjs/detector.ts';
import type { Point } from '../../../src/types.ts';
import { parsePairs, lfwImagePath } from '../pairs.ts';
import { FACERES_GEOMETRY, humanModelDir } from './faceres.ts';

interface HumanFace {
  box: [number, number, number, number];
}
interface HumanInstance {
  load(): Promise<void>;
  detect(input: unknown): Promise<{ face: HumanFace[] }>;
}

const require = createRequire(import.meta.url);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return (sorted[(sorted.length - 1) >> 1] + sorted[sorted.length >> 1]) / 2;
}

async function main(lfwDir: string, pairsFile: string, count: number): Promise<void> {
  // Human loads its models through fetch(); answer file:// URLs from disk, refuse anything else.
  globalThis.fetch = (async (url: string | URL | Request) => {
    const href = String(url instanceof Request ? url.url : url);
    if (!href.startsWith('file://')) throw new Error(`refusing to fetch ${href}: everything must come from node_modules`);
    return new Response(readFileSync(fileURLToPath(href)));
  }) as typeof fetch;
  const detector = await FaceApiDetector.create({ model: 'ssd', minConfidence: 0.3, tinyInputSize: 416 });
  const tf: typeof import('@tensorflow/tfjs') = require('@tensorflow/tfjs');
  const { Human } = require(join(humanModelDir(), '..', 'dist', 'human.node-wasm.js')) as { Human: new (config: object) => HumanInstance };
  const off = { enabled: false };
  const human = new Human({
    backend: 'wasm',
    modelBasePath: pathToFileURL(humanModelDir()).href + '/',
    wasmPath: join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/',
    face: { enabled: true, detector: { rotation: false }, mesh: off, iris: off, description: off, emotion: off, antispoof: off, liveness: off, attention: off },
    body: off, hand: off, object: off, gesture: off, segmentation: off, filter: off,
  });
  await human.load();
  const images = parsePairs(readFileSync(pairsFile, 'utf8'), pairsFile).pairs.slice(0, count).map((p) => p.a);
  const samples: Point[][] = [];
  for (const image of images) {
    const photo = await decodeImage(readFileSync(lfwImagePath(lfwDir, image)), 1e7);
    const face = pickCentralFace(await detectWithBorder(detector, photo), photo.width, photo.height);
    if (!face) continue;
    const input = tf.tensor4d(photo.data, [1, photo.height, photo.width, 3], 'float32');
    const found = await human.detect(input);
    input.dispose();
    if (found.face.length !== 1) continue;
    const [bx, by, bw, bh] = found.face[0].box;
    const size = FACERES_GEOMETRY.size;
    samples.push(FACERES_GEOMETRY.sourcePoints(face.landmarks).map((p) => ({ x: ((p.x - bx) / bw) * size, y: ((p.y - by) / bh) * size })));
  }
  console.log(`${samples.length} faces found by both detectors among ${images.length} images; median points in the ${FACERES_GEOMETRY.size} crop:`);
  for (let k = 0; k < 5; k++) console.log(`  { x: ${median(samples.map((s) => s[k].x)).toFixed(2)}, y: ${median(samples.map((s) => s[k].y)).toFixed(2)} },`);
  process.exit(0);
}

const [lfwDir, pairsFile, count] = process.argv.slice(2);
if (!lfwDir || !pairsFile) {
  console.error('usage: npx tsx src/eval/recognizers/measure-faceres-template.ts LFW_DIR PAIRS_FILE [N]');
  process.exit(2);
}
await main(lfwDir, pairsFile, count ? Number(count) : 200);
