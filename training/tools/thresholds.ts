// Match thresholds of a recognizer from LFW pairs, as the service sees the photos (enrollment's
// detector, face choice and recognizer), and their check on other pairs:
//
//   npx tsx training/tools/thresholds.ts --recognizer arcface --pairs ../shared/data/lfw-view1/pairsDevTrain.txt --out results/recognizers
//   npx tsx training/tools/thresholds.ts --recognizer arcface --pairs ../shared/data/lfw-view1/pairsDevTest.txt --out results/recognizers --check
//
// Calibration (train pairs) proposes match.threshold and match.unknownThreshold (calibrate.ts says
// how); --check applies the thresholds in force (config) to the pairs and reports what they do.
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../../src/config.ts';
import { lfwImagePath, pairImages, readPairsFile, type LfwImage } from '../../lab/eval/pairs.ts';
import { DEFAULT_LFW } from './masked_lfw.ts';
import { calibrate, describeAt, type ScoredPair } from './calibrate.ts';
import { cosine, openServicePhotos } from './service_photos.ts';

const { values } = parseArgs({
  options: {
    recognizer: { type: 'string', default: 'arcface' },
    pairs: { type: 'string' },
    lfw: { type: 'string', default: DEFAULT_LFW },
    out: { type: 'string', default: 'results/recognizers' },
    check: { type: 'boolean', default: false },
  },
});
if (!values.pairs) throw new Error('--pairs FILE is required (LFW pairsDevTrain.txt or pairsDevTest.txt)');
const model = values.recognizer as 'arcface' | 'faceapi';
const config = parseConfig({ recognize: { model } });
const pairs = (await readPairsFile(values.pairs)).pairs;
const photos = await openServicePhotos(config);
const key = (i: LfwImage) => `${i.name}/${i.number}`;
const embeddings = new Map<string, Float32Array | string>();
const images = pairImages(pairs);
let done = 0;
for (const image of images) {
  const verdict = await photos.examine(await readFile(lfwImagePath(values.lfw, image)));
  embeddings.set(key(image), verdict.ok ? verdict.photo.embedding : verdict.code);
  if (++done % 200 === 0) process.stderr.write(`${done}/${images.length} photos\n`);
}
await photos.close();

const round4 = (v: number) => Math.round(v * 10_000) / 10_000;
const scored: ScoredPair[] = [];
const refused: Record<string, number> = {};
for (const p of pairs) {
  const a = embeddings.get(key(p.a))!, b = embeddings.get(key(p.b))!;
  if (typeof a === 'string' || typeof b === 'string') {
    const code = typeof a === 'string' ? a : (b as string);
    refused[code] = (refused[code] ?? 0) + 1;
    continue;
  }
  scored.push({ score: cosine(a, b), same: p.same });
}
const report = {
  recognizer: `${photos.models.recognizer.id}@${photos.models.recognizer.version}`,
  pairsFile: basename(values.pairs),
  pairs: pairs.length,
  scored: scored.length,
  pairsWithARefusedPhoto: refused,
  /** Every scored pair, so that another operating point can be read off without re-embedding. */
  scores: { same: scored.filter((p) => p.same).map((p) => round4(p.score)), different: scored.filter((p) => !p.same).map((p) => round4(p.score)) },
  ...(values.check
    ? { thresholds: { threshold: config.match.threshold, unknownThreshold: config.match.unknownThreshold }, at: describeAt(scored, config.match.threshold, config.match.unknownThreshold) }
    : { calibration: calibrate(scored) }),
};
mkdirSync(values.out, { recursive: true });
const file = join(values.out, `thresholds-${model}-${basename(values.pairs, '.txt')}.json`);
writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
console.log(JSON.stringify(report, null, 2));
console.log(`written ${file}`);
