// LFW's pairs files (README §3c): View 2's pairs.txt ("10 300": 10 folds, each 300 matched pairs
// then 300 mismatched) and View 1's pairsDevTrain.txt / pairsDevTest.txt (a count N, N matched
// pairs then N mismatched). Matched lines read `name n1 n2`, mismatched `name1 n1 name2 n2`.
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One LFW image: the person's folder name and the image number (1-based). */
export interface LfwImage {
  name: string;
  number: number;
}

export interface LfwPair {
  a: LfwImage;
  b: LfwImage;
  /** The same person in both images. */
  same: boolean;
  /** The file's fold, 0-based (always 0 for View 1's single set). */
  fold: number;
  /** 1-based line in the file, for messages. */
  line: number;
}

export interface LfwPairs {
  /** 'view2' for a "folds pairs-per-class" header, 'view1' for a single count. */
  format: 'view1' | 'view2';
  /** Folds the file defines: 10 for View 2, 1 for View 1. */
  folds: number;
  pairs: LfwPair[];
}

export class PairsFormatError extends Error {
  constructor(source: string, line: number, message: string) {
    super(`${source}:${line}: ${message}`);
    this.name = 'PairsFormatError';
  }
}

function positiveInteger(field: string): number | null {
  return /^[0-9]+$/.test(field) && Number(field) > 0 ? Number(field) : null;
}

/** Parses the text of a pairs file; `source` names it in errors. */
export function parsePairs(text: string, source = 'pairs file'): LfwPairs {
  const lines = text.split(/\r?\n/);
  // Trailing blank lines are harmless; blank lines inside would shift every fold, so they are errors.
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  if (lines.length === 0) throw new PairsFormatError(source, 1, 'empty file: expected a header "N" (View 1) or "FOLDS N" (View 2)');

  const header = lines[0].trim().split(/\s+/).map(positiveInteger);
  if (header.some((n) => n === null) || header.length < 1 || header.length > 2)
    throw new PairsFormatError(source, 1, `bad header "${lines[0].trim()}": expected "N" (View 1) or "FOLDS N" (View 2) with positive integers`);
  const [folds, perClass] = header.length === 2 ? [header[0]!, header[1]!] : [1, header[0]!];
  const expectedLines = 1 + folds * 2 * perClass;
  if (lines.length !== expectedLines)
    throw new PairsFormatError(
      source,
      1,
      `the header promises ${folds} fold(s) × (${perClass} matched + ${perClass} mismatched) pairs = ${expectedLines - 1} lines, the file has ${lines.length - 1}`,
    );

  const pairs: LfwPair[] = [];
  for (let i = 1; i < lines.length; i++) {
    const offset = (i - 1) % (2 * perClass);
    const same = offset < perClass;
    const fields = lines[i].trim().split(/\s+/);
    const fail = (what: string): never => {
      throw new PairsFormatError(source, i + 1, `${what} in "${lines[i].trim()}"`);
    };
    const number = (field: string): number => positiveInteger(field) ?? fail(`image number "${field}" is not a positive integer`);
    if (same) {
      if (fields.length !== 3) fail(`expected a matched pair "name n1 n2" (${fields.length} fields)`);
      pairs.push({ a: { name: fields[0], number: number(fields[1]) }, b: { name: fields[0], number: number(fields[2]) }, same, fold: Math.floor((i - 1) / (2 * perClass)), line: i + 1 });
    } else {
      if (fields.length !== 4) fail(`expected a mismatched pair "name1 n1 name2 n2" (${fields.length} fields)`);
      pairs.push({ a: { name: fields[0], number: number(fields[1]) }, b: { name: fields[2], number: number(fields[3]) }, same, fold: Math.floor((i - 1) / (2 * perClass)), line: i + 1 });
    }
  }
  return { format: header.length === 2 ? 'view2' : 'view1', folds, pairs };
}

export async function readPairsFile(path: string): Promise<LfwPairs> {
  return parsePairs(await readFile(path, 'utf8'), path);
}

/** `<dir>/<Name>/<Name>_<NNNN>.jpg`, LFW's layout. */
export function lfwImagePath(dir: string, image: LfwImage): string {
  return join(dir, image.name, `${image.name}_${String(image.number).padStart(4, '0')}.jpg`);
}

/** The distinct images of the pairs, in first-use order. */
export function pairImages(pairs: readonly LfwPair[]): LfwImage[] {
  const seen = new Map<string, LfwImage>();
  for (const p of pairs)
    for (const image of [p.a, p.b]) {
      const key = `${image.name}/${image.number}`;
      if (!seen.has(key)) seen.set(key, image);
    }
  return [...seen.values()];
}

export class MissingImagesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingImagesError';
  }
}

/** Throws, naming the missing files (the first ten) and the pairs file's line, unless every image exists under `dir`. */
export function checkImagesExist(dir: string, pairs: readonly LfwPair[]): void {
  const missing: string[] = [];
  for (const p of pairs)
    for (const image of [p.a, p.b]) {
      const path = lfwImagePath(dir, image);
      if (!existsSync(path)) missing.push(`${path} (line ${p.line})`);
    }
  if (missing.length > 0)
    throw new MissingImagesError(
      `${missing.length} image(s) of the pairs are missing under ${dir}: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}. Is --lfw the folder that holds one sub-folder per person?`,
    );
}

const LFW_FILE = /^(.+)_(\d{4})\.jpg$/;

/**
 * Every image of an LFW folder (`<Name>/<Name>_<NNNN>.jpg`), sorted by name and number; other files
 * are ignored. Throws when the folder holds none, which means --lfw points elsewhere.
 */
export function listLfwImages(dir: string): LfwImage[] {
  const images: LfwImage[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    for (const file of readdirSync(join(dir, entry.name))) {
      const match = LFW_FILE.exec(file);
      if (match && match[1] === entry.name) images.push({ name: entry.name, number: Number(match[2]) });
    }
  }
  if (images.length === 0) throw new MissingImagesError(`no <Name>/<Name>_<NNNN>.jpg image under ${dir}: is --lfw the folder that holds one sub-folder per person?`);
  return images.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.number - b.number));
}
