// What one "this is not X" does, measured on LFW View 1 with the service's own enrollment and
// gallery index (src/match/gallery-index.ts):
//
//   npx tsx training/tools/negative_feedback.ts --out results/feedback [--lfw DIR] [--margins 0,0.02,0.05,0.1]
//
// The people of LFW View 1, in name order, are enrolled one in two (even positions), from their first
// photo that enrollment takes; the others are never enrolled. Every photo of the people who are not
// enrolled is streamed through the index: a photo whose best match reaches match.threshold gets a
// wrong name. For each (person, wrong name X), the first photo that got X becomes one negative sample
// of X, as "this is not X" on its event would; then all photos are matched again and we count how many
// of those people's *other* photos still get X (and whether another wrong name takes its place). The
// cost is measured on the enrolled people's other photos: how many lose their right name.
// Embeddings are cached in var/feedback/ (the slow part is detection and embedding, about 10 minutes).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../../src/config.ts';
import { GalleryIndex } from '../../src/match/gallery-index.ts';
import { DEFAULT_LFW } from './masked_lfw.ts';
import { openServicePhotos } from './service_photos.ts';

const { values } = parseArgs({
  options: {
    lfw: { type: 'string', default: DEFAULT_LFW },
    out: { type: 'string', default: 'results/feedback' },
    cache: { type: 'string', default: 'var/feedback' },
    margins: { type: 'string', default: '0,0.02,0.05,0.1,0.15' },
    recognizer: { type: 'string', default: 'arcface' },
  },
});
const model = values.recognizer as 'arcface' | 'faceapi';
const config = parseConfig({ recognize: { model } });
const threshold = config.match.threshold;
const margins = values.margins.split(',').map(Number);

// 1. Every photo's embedding as enrollment makes it (cached).
const people = readdirSync(values.lfw).sort();
const photosOf = new Map(people.map((name) => [name, readdirSync(join(values.lfw, name)).sort()]));
const cacheFile = join(values.cache, `embeddings-${model}.json`);
let cache: Record<string, number[] | string> = existsSync(cacheFile) ? JSON.parse(readFileSync(cacheFile, 'utf8')) : {};
const allKeys = people.flatMap((name) => photosOf.get(name)!.map((file) => `${name}/${file}`));
if (allKeys.some((key) => !(key in cache))) {
  const photos = await openServicePhotos(config);
  const recognizerName = `${photos.models.recognizer.id}@${photos.models.recognizer.version}`;
  if (cache.__recognizer !== undefined && cache.__recognizer !== recognizerName) cache = {}; // another model: start over
  cache.__recognizer = recognizerName;
  const todo = allKeys.filter((key) => !(key in cache));
  let done = 0;
  for (const key of todo) {
    const verdict = await photos.examine(await readFile(join(values.lfw, key)));
    cache[key] = verdict.ok ? Array.from(verdict.photo.embedding) : verdict.code;
    if (++done % 250 === 0) {
      process.stderr.write(`${done}/${todo.length} photos\n`);
      mkdirSync(values.cache, { recursive: true });
      writeFileSync(cacheFile, JSON.stringify(cache));
    }
  }
  await photos.close();
  mkdirSync(values.cache, { recursive: true });
  writeFileSync(cacheFile, JSON.stringify(cache));
  cache = JSON.parse(readFileSync(cacheFile, 'utf8'));
}
const recognizerName = typeof cache.__recognizer === 'string' ? cache.__recognizer : model;
const embeddingOf = (key: string) => (Array.isArray(cache[key]) ? Float32Array.from(cache[key] as number[]) : undefined);
const dims = embeddingOf(Object.keys(cache).find((k) => Array.isArray(cache[k]))!)!.length;

// 2. The gallery: every other person, from their first accepted photo.
interface Photo {
  key: string;
  person: string;
  embedding: Float32Array;
}
const accepted = (name: string): Photo[] =>
  photosOf
    .get(name)!
    .map((file) => ({ key: `${name}/${file}`, person: name, embedding: embeddingOf(`${name}/${file}`) }))
    .filter((p) => p.embedding !== undefined) as Photo[];
const enrolled = people.filter((_, i) => i % 2 === 0);
const strangers = people.filter((_, i) => i % 2 === 1);
const identityOf = new Map<string, { id: number; name: string }>();
const gallerySamples: Photo[] = [];
const genuineProbes: Photo[] = [];
for (const name of enrolled) {
  const [first, ...rest] = accepted(name);
  if (!first) continue;
  identityOf.set(name, { id: identityOf.size + 1, name });
  gallerySamples.push(first);
  genuineProbes.push(...rest);
}
const strangerPhotos = strangers.flatMap(accepted);

const buildIndex = (negatives: { photo: Photo; identity: string }[], margin: number) => {
  const index = new GalleryIndex({ id: model, version: 'lfw', dims });
  index.negativeMargin = margin;
  let sampleId = 1;
  for (const sample of gallerySamples) index.add(sampleId++, identityOf.get(sample.person)!, sample.embedding);
  for (const { photo, identity } of negatives) index.addNegative(sampleId++, identityOf.get(identity)!, photo.embedding);
  return index;
};
/** The name a photo gets: its best match at or above the threshold, else none. */
const nameOf = (index: GalleryIndex, photo: Photo): string | null => {
  const [top] = index.search(photo.embedding, 1);
  return top && top.score >= threshold ? top.identity.name : null;
};

// 3. Before any feedback: the wrong names, and one negative per (person, wrong name).
const plain = buildIndex([], 0);
const before = new Map(strangerPhotos.map((p) => [p.key, nameOf(plain, p)]));
const genuineBefore = new Map(genuineProbes.map((p) => [p.key, nameOf(plain, p)]));
const pairs = new Map<string, { person: string; identity: string; negative: Photo }>();
for (const photo of strangerPhotos) {
  const name = before.get(photo.key);
  const pair = `${photo.person}\u0000${name}`;
  if (name && !pairs.has(pair)) pairs.set(pair, { person: photo.person, identity: name, negative: photo });
}
const negatives = [...pairs.values()].map(({ negative, identity }) => ({ photo: negative, identity }));
const negativeKeys = new Set(negatives.map((n) => n.photo.key));
// The other photos of the people with a wrong name (the photo made negative is not counted).
const others = strangerPhotos.filter((p) => !negativeKeys.has(p.key) && [...pairs.values()].some((q) => q.person === p.person));
const wrongPairOf = (p: Photo, name: string | null) => name !== null && pairs.has(`${p.person}\u0000${name}`);

const rows = margins.map((margin) => {
  const index = buildIndex(negatives, margin);
  let stillSameName = 0, sameNameBefore = 0, newWrongName = 0;
  for (const p of others) {
    const was = before.get(p.key)!, now = nameOf(index, p);
    if (wrongPairOf(p, was)) sameNameBefore++;
    if (wrongPairOf(p, now)) stillSameName++;
    // Every name such a photo had before is one of the pairs: a name outside them is new.
    if (now !== null && !wrongPairOf(p, now)) newWrongName++;
  }
  // The stranger photos other than those made negative: named at all, before and after.
  const rest = strangerPhotos.filter((p) => !negativeKeys.has(p.key));
  const strangersNamedBefore = rest.filter((p) => before.get(p.key) !== null).length;
  const strangersNamedAfter = rest.filter((p) => nameOf(index, p) !== null).length;
  let genuineRightBefore = 0, genuineRightAfter = 0, genuineLost = 0, genuineWrongBefore = 0, genuineWrongAfter = 0;
  for (const p of genuineProbes) {
    const was = genuineBefore.get(p.key) ?? null, now = nameOf(index, p);
    if (was === p.person) genuineRightBefore++;
    if (now === p.person) genuineRightAfter++;
    if (was === p.person && now !== p.person) genuineLost++;
    if (was !== null && was !== p.person) genuineWrongBefore++;
    if (now !== null && now !== p.person) genuineWrongAfter++;
  }
  return {
    margin,
    otherPhotos: others.length,
    sameWrongNameBefore: sameNameBefore,
    sameWrongNameAfter: stillSameName,
    newWrongNameAfter: newWrongName,
    otherStrangerPhotos: rest.length,
    otherStrangerPhotosNamedBefore: strangersNamedBefore,
    otherStrangerPhotosNamedAfter: strangersNamedAfter,
    genuineProbes: genuineProbes.length,
    genuineRightBefore,
    genuineRightAfter,
    genuineLost,
    genuineWrongBefore,
    genuineWrongAfter,
  };
});

const report = {
  recognizer: recognizerName,
  threshold,
  lfw: values.lfw,
  people: people.length,
  enrolledIdentities: identityOf.size,
  strangerPeople: strangers.length,
  strangerPhotos: strangerPhotos.length,
  wrongNames: pairs.size,
  peopleWithWrongName: new Set([...pairs.values()].map((p) => p.person)).size,
  negatives: negatives.length,
  examples: [...pairs.values()].slice(0, 20).map((p) => ({ person: p.person, wrongName: p.identity, negative: p.negative.key })),
  rows,
};
mkdirSync(values.out, { recursive: true });
writeFileSync(join(values.out, 'negative-feedback.json'), JSON.stringify(report, null, 2) + '\n');
const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(1)} %` : '–');
const md = [
  `# "This is not X" on LFW View 1`,
  '',
  `Recognizer \`${report.recognizer}\`, match.threshold ${threshold}. Command: \`npx tsx training/tools/negative_feedback.ts --out ${values.out}\`.`,
  '',
  `${report.people} people in name order; ${report.enrolledIdentities} enrolled (even positions, first accepted photo each), ` +
    `${report.strangerPeople} never enrolled, whose ${report.strangerPhotos} accepted photos are streamed.`,
  `${report.strangerPhotos ? [...before.values()].filter((n) => n !== null).length : 0} of those photos get a wrong name: ` +
    `${report.wrongNames} (person, wrong name) pairs over ${report.peopleWithWrongName} people. One negative sample per pair (its first photo with that name).`,
  '',
  `"Other photos": the ${others.length} other accepted photos of the people who got a wrong name. "Genuine": the ${genuineProbes.length} other photos of the enrolled people.`,
  '',
  '| negativeMargin | other photos with the same wrong name, before → after | other photos given a new wrong name | all other stranger photos named, before → after | genuine photos rightly named, before → after (lost) | genuine photos wrongly named, before → after |',
  '|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.margin} | ${r.sameWrongNameBefore} → ${r.sameWrongNameAfter} (${pct(r.sameWrongNameAfter, r.sameWrongNameBefore)} left) | ` +
      `${r.newWrongNameAfter} | ${r.otherStrangerPhotosNamedBefore} → ${r.otherStrangerPhotosNamedAfter} (of ${r.otherStrangerPhotos}) | ` +
      `${r.genuineRightBefore} → ${r.genuineRightAfter} (${r.genuineLost}) | ${r.genuineWrongBefore} → ${r.genuineWrongAfter} |`,
  ),
  '',
].join('\n');
writeFileSync(join(values.out, 'negative-feedback.md'), md);
process.stdout.write(md);
