// The fairness table of issue 17: for each recognizer, same-person and different-person cosines on
// faces of several perceived groups, against the recognizer's threshold. A recognizer whose
// different-person scores reach its threshold in any group is not a default.
//
//   npx tsx training/tools/fairness.ts --out results/fairness [--recognizer faceapi,arcface] \
//     [--threshold faceapi=0.92] [--threshold arcface=0.33 --threshold arcface=0.30 …] \
//     [--per-identity 6] [--max-identities 100] [--cache var/fairness/cache] [--inspect var/fairness/inspect]
//   npx tsx training/tools/fairness.ts montages [--out var/fairness/montages] [--ids 5061,5253 --photos 4]
//
// --threshold: a recognizer's defaults to the service's own for it (src/config.ts RECOGNIZER_THRESHOLDS,
// match.threshold's default: face-api 0.92, ArcFace 0.33 from LFW View 1's training pairs). Any other
// value is reported as provisional. Several per recognizer give several columns.
//
// Faces: CelebA's identities (--celeba, face-centred crops with identity.txt) whose perceived group is
// in --groups (results/fairness/celeba-perceived-groups.csv: one annotator, RFW's four groups; its
// header says how it was made), the first --max-identities of a group by id, the first --per-identity
// faces of each (photos by file name; a photo without a face is counted as refused and skipped).
// Different-person pairs are taken within a group. One more "mixed, different-person only" row: every
// face of the group photos that npm packages ship (SAMPLE_PHOTOS), paired only within its photo.
//
// Each photo is seen as the service enrolls one (openFaceEmbedder below, the only code that touches
// the service: enrollment's detector and face checks, alignment to the recognizer's template,
// embedding). Embeddings are cached per photo, detector and recognizer version under --cache, so a
// rerun only computes what is new (--cache '' turns it off: do so when the detector's settings
// change but its id does not).
//
// Writes OUT/fairness.json (everything) and OUT/fairness.md (a table per recognizer, the thresholds,
// a verdict per threshold, the ten highest different-person pairs), and --inspect's sheets of those
// pairs' faces (never committed: they are CelebA's photos). `montages` makes the sheets the labels
// were made from.
import { execSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

// ---------------------------------------------------------------------------------------------------
// The pure part: pair statistics from embeddings and labels (test/unit/fairness.test.ts).

export interface LabelledFace {
  /** Who: faces with the same person are same-person pairs, all others different-person pairs. */
  person: string;
  /** Where the face comes from (file, and face index in a group photo), to name a pair. */
  source: string;
  /** L2-normalised embedding. */
  embedding: Float32Array;
  /** When given, a face is only paired with faces of the same scope (the faces of one group photo). */
  scope?: string;
}

export interface ScoredPair {
  cosine: number;
  a: { person: string; source: string };
  b: { person: string; source: string };
}

export interface PairStats {
  identities: number;
  faces: number;
  same: { pairs: number; mean: number | null; p05: number | null; min: number | null };
  different: {
    pairs: number;
    mean: number | null;
    p99: number | null;
    p999: number | null;
    max: number | null;
    /** Different-person pairs at or above each threshold (keyed by the threshold as written). */
    atOrAbove: Record<string, number>;
  };
  /** The highest different-person pairs, highest first. */
  topDifferent: ScoredPair[];
}

export function normalise(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const n = Math.sqrt(s) || 1;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] / n;
  return out;
}

/** Dot product: the cosine of two unit vectors. */
export function dot(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`embeddings of ${a.length} and ${b.length} dimensions`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** The q-quantile of ascending `sorted`, linear between closest ranks (numpy's default). */
export function quantile(sorted: ArrayLike<number>, q: number): number | null {
  const n = sorted.length;
  if (!n) return null;
  const h = (n - 1) * q;
  const lo = Math.floor(h), hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (h - lo);
}

/** Every pair of `faces`: same-person and different-person statistics, counts at each threshold, the top pairs. */
export function pairStats(faces: readonly LabelledFace[], thresholds: readonly number[], top = 10): PairStats {
  const same: number[] = [];
  const different = new Float64Array(Math.max(0, (faces.length * (faces.length - 1)) / 2));
  let nd = 0;
  const atOrAbove = thresholds.map(() => 0);
  // The top pairs, kept small and ascending: [cosine, i, j].
  const best: [number, number, number][] = [];
  for (let i = 0; i < faces.length; i++) {
    for (let j = i + 1; j < faces.length; j++) {
      if (faces[i].scope !== faces[j].scope) continue;
      const c = dot(faces[i].embedding, faces[j].embedding);
      if (faces[i].person === faces[j].person) {
        same.push(c);
        continue;
      }
      different[nd++] = c;
      for (let t = 0; t < thresholds.length; t++) if (c >= thresholds[t]) atOrAbove[t]++;
      if (top > 0 && (best.length < top || c > best[0][0])) {
        best.push([c, i, j]);
        best.sort((x, y) => x[0] - y[0]);
        if (best.length > top) best.shift();
      }
    }
  }
  same.sort((x, y) => x - y);
  const diff = different.subarray(0, nd).sort();
  const mean = (xs: ArrayLike<number>) => {
    if (!xs.length) return null;
    let s = 0;
    for (let i = 0; i < xs.length; i++) s += xs[i];
    return s / xs.length;
  };
  const who = (f: LabelledFace) => ({ person: f.person, source: f.source });
  return {
    identities: new Set(faces.map((f) => f.person)).size,
    faces: faces.length,
    same: { pairs: same.length, mean: mean(same), p05: quantile(same, 0.05), min: same.length ? same[0] : null },
    different: {
      pairs: nd,
      mean: mean(diff),
      p99: quantile(diff, 0.99),
      p999: quantile(diff, 0.999),
      max: nd ? diff[nd - 1] : null,
      atOrAbove: Object.fromEntries(thresholds.map((t, k) => [String(t), atOrAbove[k]])),
    },
    topDifferent: best.reverse().map(([c, i, j]) => ({ cosine: c, a: who(faces[i]), b: who(faces[j]) })),
  };
}

/** `name=value` flags (`--threshold arcface=0.30`), several values per name allowed, in order given. */
export function parseThresholds(flags: readonly string[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const flag of flags) {
    const m = /^([a-z0-9-]+)=(-?[0-9.]+)$/i.exec(flag.trim());
    const value = m ? Number(m[2]) : NaN;
    if (!m || !(value >= -1 && value <= 1)) throw new Error(`--threshold takes recognizer=cosine (e.g. arcface=0.30), got ${flag}`);
    out.set(m[1], [...(out.get(m[1]) ?? []), value]);
  }
  return out;
}

/** The perceived-group file: `identity,group` lines, `#` comments, a header line allowed. */
export function parseGroups(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [id, group] = line.split(',').map((s) => s.trim());
    if (id === 'identity') continue;
    if (!id || !group) throw new Error(`groups file: expected identity,group, got "${line}"`);
    if (out.has(id)) throw new Error(`groups file: identity ${id} listed twice`);
    out.set(id, group);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The only contact with the service's pieces: a photo → each face the service would take from it,
// aligned to and embedded by each recognizer. Re-point this when the models move (issue 17).

export type RecognizerName = 'faceapi' | 'arcface';
export const RECOGNIZERS: readonly RecognizerName[] = ['faceapi', 'arcface'];

export interface PhotoFaces {
  width: number;
  height: number;
  /** Faces at or above gallery.minConfidence and gallery.minFaceSize, left to right. */
  faces: { box: { x: number; y: number; width: number; height: number }; score: number; embeddings: Partial<Record<RecognizerName, Float32Array>> }[];
  /** Best score of the candidates below gallery.minConfidence (why a photo gave no face). */
  bestRejected: number | null;
}

export interface FaceEmbedder {
  /** `id@version` of each recognizer, the cache key. */
  versions: Partial<Record<RecognizerName, string>>;
  detector: string;
  photo(bytes: Uint8Array): Promise<PhotoFaces>;
  close(): Promise<void>;
}

/**
 * As `unmask enroll` sees a photo (src/gallery/enroll.ts): decode with sharp to RGB, detect with the
 * enrollment detector (the photo shrunk to 2048 px for detection only), keep faces at or above
 * gallery.minConfidence and gallery.minFaceSize, align on the landmarks to the recognizer's template,
 * embed. Enrollment refuses a photo with several faces unless one dominates; here all are returned,
 * the caller chooses.
 */
export async function openFaceEmbedder(names: readonly RecognizerName[]): Promise<FaceEmbedder> {
  const [{ default: sharp }, { parseConfig }, { loadModels }, { alignToTemplate }] = await Promise.all([
    import('sharp'),
    import('../../src/config.ts'),
    import('../../src/models/registry.ts'),
    import('../../src/align/warp.ts'),
  ]);
  // recognize.model faceapi puts face-api's net in the pool beside ArcFace (models.arcFace, always there).
  const config = parseConfig(names.includes('faceapi') ? { recognize: { model: 'faceapi' } } : {});
  const models = await loadModels(config);
  const recognizers: Partial<Record<RecognizerName, import('../../src/models/types.ts').Recognizer>> = {};
  if (names.includes('faceapi')) recognizers.faceapi = models.recognizer;
  if (names.includes('arcface')) recognizers.arcface = models.arcFace;
  const wrong = (Object.entries(recognizers) as [RecognizerName, { id: string; dims: number }][]).filter(([n, r]) => r.dims !== (n === 'faceapi' ? 128 : 512));
  if (wrong.length) {
    await models.close();
    throw new Error(`loadModels gave ${wrong.map(([n, r]) => `${r.id} (${r.dims}-D) for ${n}`).join(', ')}: re-point openFaceEmbedder`);
  }
  const { minConfidence, minFaceSize } = config.gallery;
  const MAX_SIDE = 2048;
  type Rgb = { width: number; height: number; data: Uint8Array };
  const decode = async (input: Uint8Array | Buffer, resize?: number): Promise<Rgb> => {
    let s = sharp(input).rotate().removeAlpha().toColourspace('srgb');
    if (resize) s = s.resize({ width: resize, height: resize, fit: 'inside' });
    const { data, info } = await s.raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  };
  return {
    versions: Object.fromEntries(Object.entries(recognizers).map(([k, r]) => [k, `${r!.id}@${r!.version}`])),
    detector: models.enrollDetector.id,
    async photo(bytes) {
      const image = await decode(bytes);
      const scale = Math.min(1, MAX_SIDE / Math.max(image.width, image.height));
      const small = scale < 1 ? await decode(bytes, MAX_SIDE) : image;
      const sx = image.width / small.width, sy = image.height / small.height;
      const detected = (await models.enrollDetector.detect(small)).map((f) => ({
        score: f.score,
        box: { x: f.box.x * sx, y: f.box.y * sy, width: f.box.width * sx, height: f.box.height * sy },
        landmarks: f.landmarks.map((p) => ({ x: p.x * sx, y: p.y * sy })),
      }));
      const kept = detected.filter((f) => f.score >= minConfidence && f.box.width >= minFaceSize).sort((a, b) => a.box.x - b.box.x);
      const rejected = detected.filter((f) => f.score < minConfidence).map((f) => f.score);
      const faces: PhotoFaces['faces'] = kept.map((f) => ({ box: f.box, score: f.score, embeddings: {} }));
      for (const [name, r] of Object.entries(recognizers) as [RecognizerName, NonNullable<(typeof recognizers)[RecognizerName]>][]) {
        if (!kept.length) break;
        const crops = kept.map((f) => alignToTemplate(image, f.landmarks, r.template).crop);
        const embeddings = await r.embed(crops);
        embeddings.forEach((e, i) => (faces[i].embeddings[name] = e));
      }
      return { width: image.width, height: image.height, faces, bestRejected: rejected.length ? Math.max(...rejected) : null };
    },
    async close() {
      await models.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// The data.

export const DEFAULT_CELEBA = '../shared/data/celeba-crops';
export const DEFAULT_GROUPS = 'results/fairness/celeba-perceived-groups.csv';
/** RFW's four groups (Wang et al., "Racial Faces in the Wild"), the order of the tables. */
export const GROUPS = ['African', 'Asian', 'Caucasian', 'Indian'] as const;

/**
 * Group photos that npm packages ship, where every face is a different person. Pairs are only taken
 * within one photo: across photos the same person may come back (face-api's six demo photos look
 * like one photo shoot). Left out: human's screenshot-*.jpg (they show the package's author again
 * and again, and screenshot-facematch.jpg tiles one man's face many times).
 */
export const SAMPLE_PHOTOS: readonly { pkg: string; file: string; people?: number }[] = [
  ...[3, 3, 3, 4, 5, 4].map((people, k) => ({ pkg: '@vladmandic/face-api', file: `demo/sample${k + 1}.jpg`, people })),
  // A collage: thumbnails over a group photo whose faces carry the demo's drawn overlays; not counted.
  { pkg: '@vladmandic/human', file: 'assets/samples.jpg' },
];

/** CelebA's photos by identity: identity.txt's `<file> <identity>` lines, files sorted within each. */
export function readCelebaIdentities(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const [file, id] = line.trim().split(/\s+/);
    if (!file || !id) continue;
    out.set(id, [...(out.get(id) ?? []), file]);
  }
  for (const files of out.values()) files.sort();
  return new Map([...out].sort((a, b) => Number(a[0]) - Number(b[0]) || a[0].localeCompare(b[0])));
}

// ---------------------------------------------------------------------------------------------------
// Montages for the labelling: a cell per identity (its first `photos` photos, the id under them),
// `columns` cells a row, `perSheet` cells a sheet. `ids` picks identities (a second look at the unsure).

async function writeMontages(o: { celeba: string; out: string; perSheet: number; columns: number; tile: number; photos: number; ids?: string[]; prefix: string }): Promise<void> {
  const { default: sharp } = await import('sharp');
  const all = readCelebaIdentities(readFileSync(join(o.celeba, 'identity.txt'), 'utf8'));
  const identities = o.ids ? o.ids.map((id) => [id, all.get(id) ?? []] as const) : [...all];
  const missing = identities.filter(([, files]) => !files.length).map(([id]) => id);
  if (missing.length) throw new Error(`no such identity in ${o.celeba}: ${missing.join(', ')}`);
  mkdirSync(o.out, { recursive: true });
  const label = 18, cellWidth = o.tile * o.photos;
  for (let start = 0, sheet = 1; start < identities.length; start += o.perSheet, sheet++) {
    const batch = identities.slice(start, start + o.perSheet);
    const columns = Math.min(o.columns, batch.length), rows = Math.ceil(batch.length / columns);
    const composites = [];
    for (let k = 0; k < batch.length; k++) {
      const [id, files] = batch[k];
      const left = (k % columns) * cellWidth, top = Math.floor(k / columns) * (o.tile + label);
      for (const [n, file] of files.slice(0, o.photos).entries())
        composites.push({ input: await sharp(join(o.celeba, 'images', file)).resize(o.tile, o.tile, { fit: 'cover' }).toBuffer(), left: left + n * o.tile, top });
      const text = Buffer.from(
        `<svg width="${cellWidth}" height="${label}"><rect width="100%" height="100%" fill="black"/>` +
          `<text x="${cellWidth / 2}" y="${label - 4}" font-family="sans-serif" font-size="15" fill="white" text-anchor="middle">${id}</text></svg>`,
      );
      composites.push({ input: text, left, top: top + o.tile });
    }
    const name = join(o.out, `${o.prefix}-${String(sheet).padStart(2, '0')}.png`);
    await sharp({ create: { width: columns * cellWidth, height: rows * (o.tile + label), channels: 3, background: '#000' } })
      .composite(composites)
      .png()
      .toFile(name);
    console.log(`${name}: identities ${batch[0][0]} … ${batch[batch.length - 1][0]}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// The audit.

/** The service's own threshold of each recognizer (src/config.ts RECOGNIZER_THRESHOLDS); any other is reported as provisional. */
export type ServiceThresholds = Partial<Record<RecognizerName, number>>;
const LABELS: Record<RecognizerName, string> = { faceapi: 'face-api 128-D', arcface: 'ArcFace 512-D (faceplugin)' };

interface CachedPhoto {
  width: number;
  height: number;
  bestRejected: number | null;
  faces: { box: PhotoFaces['faces'][number]['box']; score: number; embeddings: Record<string, string> }[];
}

const toBase64 = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
const fromBase64 = (s: string) => {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

/** A photo's faces with the embeddings of `names`, from the cache or the embedder (then cached). */
class Photos {
  computed = 0;
  cached = 0;
  constructor(
    private readonly embedder: FaceEmbedder,
    private readonly names: readonly RecognizerName[],
    private readonly cacheDir: string | undefined,
  ) {
    if (cacheDir) mkdirSync(cacheDir, { recursive: true });
  }

  async get(path: string): Promise<{ width: number; height: number; bestRejected: number | null; faces: { box: CachedPhoto['faces'][number]['box']; score: number; embeddings: Partial<Record<RecognizerName, Float32Array>> }[] }> {
    const bytes = readFileSync(path);
    const file = this.cacheDir && join(this.cacheDir, `${createHash('sha256').update(this.embedder.detector).update('\0').update(bytes).digest('hex').slice(0, 32)}.json`);
    let entry: CachedPhoto | undefined = file && existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as CachedPhoto) : undefined;
    const versions = this.names.map((n) => this.embedder.versions[n]!);
    if (entry && entry.faces.every((f) => versions.every((v) => v in f.embeddings))) this.cached++;
    else {
      const found = await this.embedder.photo(bytes);
      this.computed++;
      const keep = entry && entry.faces.length === found.faces.length ? entry : undefined;
      entry = {
        width: found.width,
        height: found.height,
        bestRejected: found.bestRejected,
        faces: found.faces.map((f, i) => ({
          box: f.box,
          score: f.score,
          embeddings: {
            ...(keep?.faces[i].embeddings ?? {}),
            ...Object.fromEntries(this.names.map((n) => [this.embedder.versions[n]!, toBase64(f.embeddings[n]!)])),
          },
        })),
      };
      if (file) {
        writeFileSync(`${file}.tmp`, JSON.stringify(entry));
        renameSync(`${file}.tmp`, file);
      }
    }
    return {
      ...entry,
      faces: entry.faces.map((f) => ({
        box: f.box,
        score: f.score,
        embeddings: Object.fromEntries(this.names.map((n) => [n, normalise(fromBase64(f.embeddings[this.embedder.versions[n]!]))])),
      })),
    };
  }
}

/** Runs `work` on every item with at most `limit` in flight (the model threads stay busy). */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

export interface RowReport {
  row: string;
  kind: 'group' | 'mixed';
  photos: number;
  /** Photos in which no face passed gallery.minConfidence and gallery.minFaceSize (enrollment's no_face). */
  refused: number;
  /** CelebA photos where several faces passed: the one nearest the centre was taken (enrollment would ask). */
  severalFaces: number;
  stats: Record<RecognizerName, PairStats>;
  /** Mixed row: faces found in each sample photo, and the people in it where counted (more faces: a false detection). */
  facesPerPhoto?: Record<string, { faces: number; people?: number }>;
  /**
   * Group rows: the same on the first `identities` identities of the group, as many as the smallest
   * group has, so that the groups' maxima are taken over comparable numbers of pairs.
   */
  sizeMatched?: { identities: number; stats: Record<RecognizerName, PairStats> };
}

/** Where each face of the audit lies (for the inspection sheets of the top pairs). */
export type FacePlaces = Map<string, { path: string; box: PhotoFaces['faces'][number]['box'] }>;

interface AuditOptions {
  celeba: string;
  groups: Map<string, string>;
  names: readonly RecognizerName[];
  thresholds: Map<RecognizerName, number[]>;
  perIdentity: number;
  maxIdentities: number;
  photos: Photos;
  samples: { pkg: string; file: string; path: string; people?: number }[];
  places: FacePlaces;
}

async function audit(o: AuditOptions): Promise<RowReport[]> {
  const identities = readCelebaIdentities(readFileSync(join(o.celeba, 'identity.txt'), 'utf8'));
  const rows: RowReport[] = [];
  const groupFaces: (LabelledFace & { embeddings: Partial<Record<RecognizerName, Float32Array>> })[][] = [];
  const statsOf = (faces: (LabelledFace & { embeddings: Partial<Record<RecognizerName, Float32Array>> })[]) =>
    Object.fromEntries(o.names.map((n) => [n, pairStats(faces.map((f) => ({ ...f, embedding: f.embeddings[n]! })), o.thresholds.get(n) ?? [])])) as Record<
      RecognizerName,
      PairStats
    >;
  for (const group of GROUPS) {
    const ids = [...identities.keys()].filter((id) => o.groups.get(id) === group).slice(0, o.maxIdentities);
    const unknown = [...o.groups.keys()].filter((id) => !identities.has(id));
    if (unknown.length) throw new Error(`groups file names identities that ${o.celeba} lacks: ${unknown.slice(0, 5).join(', ')}…`);
    const faces: (LabelledFace & { embeddings: Partial<Record<RecognizerName, Float32Array>> })[] = [];
    let photos = 0, refused = 0, several = 0;
    await eachLimited(ids, 4, async (id) => {
      let taken = 0;
      for (const file of identities.get(id)!) {
        if (taken >= o.perIdentity) break;
        const photo = await o.photos.get(join(o.celeba, 'images', file));
        photos++;
        if (!photo.faces.length) {
          refused++;
          continue;
        }
        if (photo.faces.length > 1) several++;
        const off = (f: (typeof photo.faces)[number]) => Math.hypot(f.box.x + f.box.width / 2 - photo.width / 2, f.box.y + f.box.height / 2 - photo.height / 2);
        const face = photo.faces.reduce((a, b) => (off(b) < off(a) ? b : a));
        faces.push({ person: id, source: file, embedding: new Float32Array(0), embeddings: face.embeddings });
        o.places.set(file, { path: join(o.celeba, 'images', file), box: face.box });
        taken++;
      }
    });
    // The same order whatever the order the photos came back in.
    faces.sort((a, b) => Number(a.person) - Number(b.person) || a.source.localeCompare(b.source));
    rows.push({ row: group, kind: 'group', photos, refused, severalFaces: several, stats: statsOf(faces) });
    groupFaces.push(faces);
    process.stderr.write(`${group}: ${ids.length} identities, ${faces.length} faces from ${photos} photos (${o.photos.computed} computed, ${o.photos.cached} cached so far)\n`);
  }
  const fewest = Math.min(...rows.map((r) => r.stats[o.names[0]].identities));
  rows.forEach((r, k) => {
    const first = new Set([...new Set(groupFaces[k].map((f) => f.person))].slice(0, fewest));
    r.sizeMatched = { identities: fewest, stats: statsOf(groupFaces[k].filter((f) => first.has(f.person))) };
  });
  const mixed: (LabelledFace & { embeddings: Partial<Record<RecognizerName, Float32Array>> })[] = [];
  let refused = 0;
  const facesPerPhoto: NonNullable<RowReport['facesPerPhoto']> = {};
  for (const s of o.samples) {
    const photo = await o.photos.get(s.path);
    if (!photo.faces.length) refused++;
    facesPerPhoto[`${s.pkg}/${s.file}`] = { faces: photo.faces.length, ...(s.people ? { people: s.people } : {}) };
    photo.faces.forEach((f, i) => {
      const b = f.box;
      const source = `${s.pkg}/${s.file} face ${i} at ${Math.round(b.x)},${Math.round(b.y)} ${Math.round(b.width)}×${Math.round(b.height)}`;
      mixed.push({ person: `${s.file}#${i}`, scope: `${s.pkg}/${s.file}`, source, embedding: new Float32Array(0), embeddings: f.embeddings });
      o.places.set(source, { path: s.path, box: f.box });
    });
  }
  rows.push({ row: 'mixed (npm sample photos)', kind: 'mixed', photos: o.samples.length, refused, severalFaces: 0, stats: statsOf(mixed), facesPerPhoto });
  return rows;
}

export interface Verdict {
  recognizer: RecognizerName;
  threshold: number;
  provisional: boolean;
  eligible: boolean;
  /** Rows where a different-person pair reaches the threshold, with how many. */
  reached: { row: string; pairs: number }[];
}

/** Default-eligible at a threshold: no different-person pair at or above it in any row. */
export function verdicts(rows: readonly Pick<RowReport, 'row' | 'stats'>[], thresholds: Map<RecognizerName, number[]>, service: ServiceThresholds): Verdict[] {
  const out: Verdict[] = [];
  for (const [recognizer, ts] of thresholds) {
    for (const threshold of ts) {
      const reached = rows
        .map((r) => ({ row: r.row, pairs: r.stats[recognizer]?.different.atOrAbove[String(threshold)] ?? 0 }))
        .filter((r) => r.pairs > 0);
      out.push({ recognizer, threshold, provisional: service[recognizer] !== threshold, eligible: reached.length === 0, reached });
    }
  }
  return out;
}

/** The `n` highest different-person pairs of a recognizer over all rows. */
export function topPairs(rows: readonly Pick<RowReport, 'row' | 'stats'>[], name: RecognizerName, n = 10): (ScoredPair & { row: string })[] {
  return rows
    .flatMap((r) => r.stats[name].topDifferent.map((p) => ({ ...p, row: r.row })))
    .sort((a, b) => b.cosine - a.cosine)
    .slice(0, n);
}

/** A sheet per recognizer of its top different-person pairs, the two faces side by side (for a person to look at; var/, never committed). */
async function writeInspection(dir: string, rows: RowReport[], names: readonly RecognizerName[], places: FacePlaces): Promise<void> {
  const { default: sharp } = await import('sharp');
  mkdirSync(dir, { recursive: true });
  const tile = 112, label = 18;
  for (const name of names) {
    const top = topPairs(rows, name);
    const composites = [];
    for (const [k, p] of top.entries()) {
      const y = k * (tile + label);
      for (const [n, who] of [p.a, p.b].entries()) {
        const place = places.get(who.source)!;
        const meta = await sharp(place.path).metadata();
        const m = 0.25 * Math.max(place.box.width, place.box.height);
        const left = Math.max(0, Math.round(place.box.x - m)), top = Math.max(0, Math.round(place.box.y - m));
        const width = Math.min(meta.width! - left, Math.round(place.box.width + 2 * m)), height = Math.min(meta.height! - top, Math.round(place.box.height + 2 * m));
        composites.push({ input: await sharp(place.path).rotate().extract({ left, top, width, height }).resize(tile, tile, { fit: 'cover' }).toBuffer(), left: n * tile, top: y });
      }
      const text = `${p.cosine.toFixed(3)} ${p.row.startsWith('mixed') ? 'sample photo' : `${p.a.person} vs ${p.b.person}`}`;
      composites.push({
        input: Buffer.from(`<svg width="${2 * tile}" height="${label}"><rect width="100%" height="100%" fill="black"/><text x="${tile}" y="${label - 4}" font-family="sans-serif" font-size="13" fill="white" text-anchor="middle">${text}</text></svg>`),
        left: 0,
        top: y + tile,
      });
    }
    if (!top.length) continue;
    const file = join(dir, `top-pairs-${name}.png`);
    await sharp({ create: { width: 2 * tile, height: top.length * (tile + label), channels: 3, background: '#000' } }).composite(composites).png().toFile(file);
    process.stderr.write(`top pairs of ${name} to look at: ${file}\n`);
  }
}

/** Different-person pairs at or above `t`, and their share of the row's pairs (the false-match rate at `t`). */
const reachedCell = (s: PairStats, t: number) => {
  const n = s.different.atOrAbove[String(t)];
  return n && s.different.pairs ? `${n} (${((100 * n) / s.different.pairs).toFixed(2)} %)` : String(n);
};
const f3 = (v: number | null) => (v === null ? '–' : v.toFixed(3));

export function markdown(report: { rows: RowReport[]; verdicts: Verdict[]; thresholds: Map<RecognizerName, number[]>; service: ServiceThresholds; versions: Partial<Record<RecognizerName, string>>; detector: string; command: string; perIdentity: number; maxIdentities: number; code: string }): string {
  const out: string[] = [];
  out.push('# Fairness table', '');
  out.push(
    'Same-person and different-person cosines of each recognizer on faces of several perceived groups, ' +
      `against the recognizer's threshold (issue 17). Made by \`${report.command}\` (code ${report.code}); every figure is in fairness.json.`,
    '',
  );
  out.push(
    `- **Faces.** CelebA identities (../shared/data/celeba-crops) by perceived group, from celeba-perceived-groups.csv ` +
      `(one annotator, from one to four photos per identity, RFW's four groups; its header says how it was made). At most ${report.maxIdentities} identities a group ` +
      `(the first by id) and ${report.perIdentity} faces an identity (its first photos by file name). ` +
      `The last row: every face of the group photos that npm packages ship (${SAMPLE_PHOTOS.map((s) => `${s.pkg}/${s.file}`).join(', ')}), ` +
      'paired only with the other faces of the same photo, so every pair is two different people.',
    `- **As the service enrolls a photo.** Detector ${report.detector} (enrollment's), faces at gallery.minConfidence and gallery.minFaceSize; ` +
      'on a CelebA photo with several such faces the one nearest the centre (enrollment takes it only when it dominates, else asks). Aligned to the recognizer\'s template, embedded, L2-normalised.',
    '- **Different-person pairs are within a row** (two identities of the same group). *Refused*: photos where no face passed; they add no face.',
    '- Columns *≥ t*: different-person pairs at or above the threshold, and their share of the row\'s different-person pairs (its false-match rate).',
    '- A recognizer is **default-eligible** at a threshold only when no different-person pair, in any row, reaches it.',
    '',
  );
  for (const name of [...report.thresholds.keys()]) {
    const ts = report.thresholds.get(name)!;
    const tLabel = (t: number) => `≥ ${t}${report.service[name] === t ? '' : ' (provisional)'}`;
    out.push(`## ${LABELS[name]} — \`${report.versions[name]}\``, '');
    out.push(
      `Threshold${ts.length > 1 ? 's' : ''}: ${ts.map((t) => (report.service[name] === t ? `${t} (the service's own for this recognizer: match.threshold's default)` : `${t} (provisional: not the service's)`)).join(', ')}.`,
      '',
    );
    out.push(
      `| group | identities | photos (refused) | faces | same pairs | same mean | same p5 | diff pairs | diff mean | diff p99 | diff p99.9 | **diff max** | ${ts.map(tLabel).join(' | ')} |`,
      `|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|${ts.map(() => '---:|').join('')}`,
    );
    for (const r of report.rows) {
      const s = r.stats[name];
      out.push(
        `| ${r.row} | ${r.kind === 'mixed' ? '–' : s.identities} | ${r.photos} (${r.refused}) | ${s.faces} | ${s.same.pairs || '–'} | ${f3(s.same.mean)} | ${f3(s.same.p05)} | ${s.different.pairs} | ${f3(s.different.mean)} | ${f3(s.different.p99)} | ${f3(s.different.p999)} | **${f3(s.different.max)}** | ${ts.map((t) => reachedCell(s, t)).join(' | ')} |`,
      );
    }
    out.push('');
    const perPhoto = report.rows.find((r) => r.facesPerPhoto)?.facesPerPhoto;
    if (perPhoto)
      out.push(
        `Sample photos, faces found${Object.values(perPhoto).some((p) => p.people) ? ' / people in it' : ''}: ` +
          Object.entries(perPhoto).map(([f, p]) => `${f.replace(/^.*\//, '')} ${p.faces}${p.people ? `/${p.people}` : ''}`).join(', ') +
          '. A face more than the people is a false detection that passed gallery.minConfidence; its pairs count like the others.',
        '',
      );
    const matched = report.rows.filter((r) => r.sizeMatched);
    if (matched.length) {
      const k = matched[0].sizeMatched!.identities;
      out.push(
        `Size-matched: the first ${k} identities of each group (as many as the smallest group has), so that each maximum is over a comparable number of pairs:`,
        '',
        `| group | faces | diff pairs | diff mean | diff p99.9 | **diff max** | ${ts.map(tLabel).join(' | ')} |`,
        `|---|---:|---:|---:|---:|---:|${ts.map(() => '---:|').join('')}`,
      );
      for (const r of matched) {
        const s = r.sizeMatched!.stats[name];
        out.push(`| ${r.row} | ${s.faces} | ${s.different.pairs} | ${f3(s.different.mean)} | ${f3(s.different.p999)} | **${f3(s.different.max)}** | ${ts.map((t) => reachedCell(s, t)).join(' | ')} |`);
      }
      out.push('');
    }
    for (const v of report.verdicts.filter((v) => v.recognizer === name))
      out.push(
        `**Verdict at ${v.threshold}${v.provisional ? ' (provisional)' : ''}: ${v.eligible ? 'default-eligible' : 'not default-eligible'}** — ` +
          (v.eligible ? 'no different-person pair reaches it in any row.' : `different-person pairs reach it in ${v.reached.map((r) => `${r.row} (${r.pairs})`).join(', ')}.`),
        '',
      );
    const top = topPairs(report.rows, name);
    out.push(`Highest different-person pairs (to inspect: a CelebA identity can be mislabelled or the same person twice):`, '');
    out.push('| cosine | group | face A (identity: file) | face B |', '|---:|---|---|---|');
    const who = (p: { person: string; source: string }, mixed: boolean) => (mixed ? p.source : `${p.person}: ${p.source}`);
    for (const p of top) out.push(`| ${p.cosine.toFixed(3)} | ${p.row} | ${who(p.a, p.row.startsWith('mixed'))} | ${who(p.b, p.row.startsWith('mixed'))} |`);
    out.push('');
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------------
// CLI.

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      celeba: { type: 'string', default: DEFAULT_CELEBA },
      groups: { type: 'string', default: DEFAULT_GROUPS },
      recognizer: { type: 'string', default: RECOGNIZERS.join(',') },
      threshold: { type: 'string', multiple: true, default: [] },
      'per-identity': { type: 'string', default: '6' },
      'max-identities': { type: 'string', default: '100' },
      code: { type: 'string' },
      inspect: { type: 'string', default: 'var/fairness/inspect' },
      cache: { type: 'string', default: 'var/fairness/cache' },
      'per-sheet': { type: 'string', default: '100' },
      columns: { type: 'string', default: '10' },
      tile: { type: 'string', default: '128' },
      photos: { type: 'string', default: '1' },
      ids: { type: 'string' },
      prefix: { type: 'string', default: 'sheet' },
    },
  });
  if (positionals[0] === 'montages') {
    await writeMontages({
      celeba: values.celeba,
      out: values.out ?? 'var/fairness/montages',
      perSheet: Number(values['per-sheet']),
      columns: Number(values.columns),
      tile: Number(values.tile),
      photos: Number(values.photos),
      ids: values.ids?.split(',').map((s) => s.trim()).filter(Boolean),
      prefix: values.prefix,
    });
    return;
  }
  if (positionals.length) throw new Error(`unknown command ${positionals[0]} (the one command is "montages")`);
  if (!values.out) throw new Error('--out DIR is required (e.g. --out results/fairness)');
  const names = values.recognizer.split(',').map((s) => s.trim()) as RecognizerName[];
  for (const n of names) if (!RECOGNIZERS.includes(n)) throw new Error(`--recognizer takes ${RECOGNIZERS.join(', ')}, got ${n}`);
  const given = parseThresholds(values.threshold);
  for (const k of given.keys()) if (!names.includes(k as RecognizerName)) throw new Error(`--threshold for ${k}, which is not among --recognizer ${names.join(',')}`);
  const { RECOGNIZER_THRESHOLDS } = await import('../../src/config.ts');
  const service: ServiceThresholds = Object.fromEntries(Object.entries(RECOGNIZER_THRESHOLDS).map(([n, t]) => [n, t.threshold]));
  const thresholds = new Map<RecognizerName, number[]>();
  for (const n of names) {
    const ts = given.get(n) ?? (service[n] !== undefined ? [service[n]!] : undefined);
    if (!ts) throw new Error(`--threshold ${n}=… is required: the service has no threshold of its own for ${n}`);
    thresholds.set(n, ts);
  }
  const perIdentity = Number(values['per-identity']), maxIdentities = Number(values['max-identities']);
  if (!(Number.isInteger(perIdentity) && perIdentity >= 1)) throw new Error(`--per-identity must be a whole number ≥ 1, got ${values['per-identity']}`);
  if (!(Number.isInteger(maxIdentities) && maxIdentities >= 2)) throw new Error(`--max-identities must be a whole number ≥ 2, got ${values['max-identities']}`);
  const groups = parseGroups(readFileSync(values.groups, 'utf8'));
  // The packages are found where npm ci puts them; one that is not installed (human is optional) is left out, and said so.
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const samples = SAMPLE_PHOTOS.map((s) => ({ ...s, path: join(root, 'node_modules', s.pkg, s.file) }));
  const samplesMissing = samples.filter((s) => !existsSync(s.path)).map((s) => `${s.pkg}/${s.file}`);
  if (samplesMissing.length) process.stderr.write(`sample photos not installed, left out: ${samplesMissing.join(', ')}\n`);

  const started = Date.now();
  const embedder = await openFaceEmbedder(names);
  let rows: RowReport[];
  const photos = new Photos(embedder, names, values.cache || undefined);
  const places: FacePlaces = new Map();
  try {
    rows = await audit({ celeba: values.celeba, groups, names, thresholds, perIdentity, maxIdentities, photos, samples: samples.filter((s) => existsSync(s.path)), places });
  } finally {
    await embedder.close();
  }
  if (values.inspect) await writeInspection(values.inspect, rows, names, places);
  const command =
    `npx tsx training/tools/fairness.ts --out ${values.out} --recognizer ${names.join(',')} ` +
    [...thresholds].flatMap(([n, ts]) => ts.map((t) => `--threshold ${n}=${t}`)).join(' ') +
    (perIdentity !== 6 ? ` --per-identity ${perIdentity}` : '') +
    (maxIdentities !== 100 ? ` --max-identities ${maxIdentities}` : '');
  const report = {
    command,
    code: values.code ?? codeVersion(),
    detector: embedder.detector,
    versions: embedder.versions,
    perIdentity,
    maxIdentities,
    groupsFile: basename(values.groups),
    samplesMissing,
    thresholds: Object.fromEntries(thresholds),
    serviceThresholds: service,
    verdicts: verdicts(rows, thresholds, service),
    rows,
  };
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, 'fairness.json'), JSON.stringify(report, (_k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1e4) / 1e4 : v), 1) + '\n');
  writeFileSync(join(values.out, 'fairness.md'), markdown({ ...report, thresholds, service, rows, verdicts: report.verdicts }));
  for (const v of report.verdicts)
    console.log(`${v.recognizer} at ${v.threshold}${v.provisional ? ' (provisional)' : ''}: ${v.eligible ? 'default-eligible' : `not default-eligible (${v.reached.map((r) => `${r.row}: ${r.pairs}`).join(', ')})`}`);
  console.log(`written ${join(values.out, 'fairness.json')} and fairness.md: ${photos.computed} photos computed, ${photos.cached} from the cache, ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** The commit the models' code comes from, `+dirty` when src/ has uncommitted changes. */
function codeVersion(): string {
  try {
    const git = (args: string) => execSync(`git ${args}`, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return git('rev-parse --short HEAD') + (git('status --porcelain -- src') ? '+dirty' : '');
  } catch {
    return 'unknown';
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
