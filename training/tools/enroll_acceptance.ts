// How many photos enrollment takes, as a user would send them: every LFW photo as it is, its central
// half (a tight crop of the face, the form other face tools keep), and the detected face box grown by
// 10 % on each side. Refusals are listed by reason.
//
//   npx tsx training/tools/enroll_acceptance.ts --out results/enrollment [--lfw DIR] [--limit N]
import { readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { parseConfig } from '../../src/config.ts';
import type { Box } from '../../src/types.ts';
import { DEFAULT_LFW } from './masked_lfw.ts';
import { openServicePhotos, type Examined } from './service_photos.ts';

const { values } = parseArgs({
  options: {
    lfw: { type: 'string', default: DEFAULT_LFW },
    out: { type: 'string', default: 'results/enrollment' },
    limit: { type: 'string' },
    recognizer: { type: 'string', default: 'arcface' },
  },
});
const files = readdirSync(values.lfw)
  .sort()
  .flatMap((name) => readdirSync(join(values.lfw, name)).sort().map((f) => join(values.lfw, name, f)));
const chosen = values.limit ? files.slice(0, Number(values.limit)) : files;
const config = parseConfig({ recognize: { model: values.recognizer as 'arcface' | 'faceapi' } });
const photos = await openServicePhotos(config);

type Variant = 'photo' | 'centralHalf' | 'faceBox10';
const tally: Record<Variant, { tried: number; accepted: number; dominantTaken: number; refused: Record<string, number>; examples: Record<string, string[]> }> = {
  photo: { tried: 0, accepted: 0, dominantTaken: 0, refused: {}, examples: {} },
  centralHalf: { tried: 0, accepted: 0, dominantTaken: 0, refused: {}, examples: {} },
  faceBox10: { tried: 0, accepted: 0, dominantTaken: 0, refused: {}, examples: {} },
};
const count = (variant: Variant, file: string, verdict: Examined) => {
  const t = tally[variant];
  t.tried++;
  if (verdict.ok) {
    t.accepted++;
    if (verdict.photo.dominant) t.dominantTaken++;
    return;
  }
  t.refused[verdict.code] = (t.refused[verdict.code] ?? 0) + 1;
  const ex = (t.examples[verdict.code] ??= []);
  if (ex.length < 10) ex.push(`${file.slice(values.lfw.length + 1)}: ${verdict.message.split('\n')[0]}`);
};
const cut = (bytes: Buffer, box: Box, width: number, height: number) => {
  const left = Math.max(0, Math.round(box.x)), top = Math.max(0, Math.round(box.y));
  const right = Math.min(width, Math.round(box.x + box.width)), bottom = Math.min(height, Math.round(box.y + box.height));
  return sharp(bytes).extract({ left, top, width: right - left, height: bottom - top }).jpeg({ quality: 95 }).toBuffer();
};

let done = 0;
for (const file of chosen) {
  const bytes = await readFile(file);
  const { width = 0, height = 0 } = await sharp(bytes).metadata();
  const whole = await photos.examine(bytes);
  count('photo', file, whole);
  count('centralHalf', file, await photos.examine(await cut(bytes, { x: width / 4, y: height / 4, width: width / 2, height: height / 2 }, width, height)));
  if (whole.ok) {
    const b = whole.photo.face.box;
    const grown = { x: b.x - 0.1 * b.width, y: b.y - 0.1 * b.height, width: 1.2 * b.width, height: 1.2 * b.height };
    count('faceBox10', file, await photos.examine(await cut(bytes, grown, width, height)));
  }
  if (++done % 250 === 0) process.stderr.write(`${done}/${chosen.length} photos\n`);
}
await photos.close();

const rate = (v: Variant) => (tally[v].tried ? (100 * tally[v].accepted) / tally[v].tried : 0);
const report = { detector: photos.models.enrollDetector.id, photos: chosen.length, variants: tally };
mkdirSync(values.out, { recursive: true });
writeFileSync(join(values.out, 'acceptance.json'), JSON.stringify(report, null, 2) + '\n');
const lines = [
  `# Enrollment acceptance on LFW View 1 (${chosen.length} photos)`,
  '',
  `Detector: \`${report.detector}\`; gallery settings: minConfidence ${config.gallery.minConfidence}, minFaceSize ${config.gallery.minFaceSize} px.`,
  'Command: `npx tsx training/tools/enroll_acceptance.ts --out results/enrollment`',
  '',
  '| variant | tried | accepted | of which the dominant of several faces | refused, by reason |',
  '|---|---|---|---|---|',
  ...(Object.keys(tally) as Variant[]).map((v) => {
    const t = tally[v];
    const reasons = Object.entries(t.refused).map(([k, n]) => `${k} ${n}`).join(', ') || '–';
    return `| ${v} | ${t.tried} | ${t.accepted} (${rate(v).toFixed(2)} %) | ${t.dominantTaken} | ${reasons} |`;
  }),
  '',
  'Variants: `photo` the 250×250 photo as it is; `centralHalf` its central 125×125 (a tight crop of the face);',
  '`faceBox10` the face box enrollment found on the photo, grown by 10 % on each side (photos it refused have none).',
];
for (const v of Object.keys(tally) as Variant[])
  for (const [code, ex] of Object.entries(tally[v].examples)) lines.push('', `${v}, ${code} (first ${ex.length}):`, ...ex.map((e) => `- ${e}`));
writeFileSync(join(values.out, 'acceptance.md'), lines.join('\n') + '\n');
console.log(lines.join('\n'));
