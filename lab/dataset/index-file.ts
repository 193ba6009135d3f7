// The aligned dataset's index: one CSV row per aligned face, appended as faces are done so that an
// interrupted run loses at most the row it was writing (repaired when the file is opened again).
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import type { Point } from '../../src/types.ts';

export type Split = 'train' | 'val';

export interface IndexRow {
  /** The source image's file name (in SRC/images). */
  file: string;
  /** The aligned PNG, relative to the dataset folder: `<identity>/<stem>.png`. */
  image: string;
  identity: string;
  split: Split;
  /** Detector confidence of the chosen face. */
  score: number;
  /** The 68 landmarks (iBUG order) in the aligned crop's pixel coordinates. */
  landmarks: Point[];
}

export interface MissRow {
  file: string;
  identity: string;
  /** Why no crop was made: no face found, or the image could not be decoded. */
  reason: string;
}

export const INDEX_HEADER = ['file', 'image', 'identity', 'split', 'score', ...Array.from({ length: 68 }, (_, i) => [`x${i}`, `y${i}`]).flat()].join(',');
export const MISSED_HEADER = 'file,identity,reason';

export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

export function formatIndexRow(row: IndexRow): string {
  if (row.landmarks.length !== 68) throw new Error(`an index row needs 68 landmarks, got ${row.landmarks.length}`);
  const coords = row.landmarks.flatMap((p) => [p.x.toFixed(2), p.y.toFixed(2)]);
  return [row.file, row.image, row.identity, row.split, row.score.toFixed(4), ...coords].join(',');
}

export function parseIndexRow(line: string, where: string): IndexRow {
  const cells = line.split(',');
  const expected = 5 + 68 * 2;
  if (cells.length !== expected) throw new DatasetError(`${where}: expected ${expected} columns, got ${cells.length}`);
  const [file, image, identity, split, score] = cells;
  if (split !== 'train' && split !== 'val') throw new DatasetError(`${where}: split must be train or val, got "${split}"`);
  const numbers = cells.slice(4).map(Number);
  if (numbers.some((n) => !Number.isFinite(n))) throw new DatasetError(`${where}: score and landmarks must be numbers`);
  const landmarks: Point[] = [];
  for (let i = 0; i < 68; i++) landmarks.push({ x: numbers[1 + 2 * i], y: numbers[2 + 2 * i] });
  return { file, image, identity, split, score: Number(score), landmarks };
}

/** Escapes a free-text cell (a reason) so that it stays one CSV cell. */
function csvText(text: string): string {
  const flat = text.replace(/[\r\n]+/g, ' ');
  return /[",]/.test(flat) ? `"${flat.replaceAll('"', '""')}"` : flat;
}

export function formatMissRow(row: MissRow): string {
  return [row.file, row.identity, csvText(row.reason)].join(',');
}

/**
 * An append-only CSV file with a fixed header. Opening it creates it with the header, or checks the
 * header of an existing one and cuts off a last line left unfinished by an interrupted run.
 * Each row is one write() of a whole line in append mode.
 */
export class AppendOnlyCsv {
  private fd: number;

  private constructor(readonly path: string, fd: number, readonly lines: string[]) {
    this.fd = fd;
  }

  static open(path: string, header: string): AppendOnlyCsv {
    let lines: string[] = [];
    if (existsSync(path)) {
      let text = readFileSync(path, 'utf8');
      const lastNewline = text.lastIndexOf('\n');
      if (lastNewline < text.length - 1) {
        // An unfinished last line: the run stopped mid-write. Its image is simply done again.
        text = text.slice(0, lastNewline + 1);
        writeFileSync(path, text);
      }
      const all = text.split('\n').slice(0, -1);
      if (all.length === 0) {
        writeFileSync(path, `${header}\n`);
      } else if (all[0] !== header) {
        throw new DatasetError(
          `${path} does not start with the expected header (it was written by another version or another tool); move it away to start afresh`,
        );
      }
      lines = all.slice(1);
    } else {
      writeFileSync(path, `${header}\n`);
    }
    return new AppendOnlyCsv(path, openSync(path, 'a'), lines);
  }

  append(line: string): void {
    writeSync(this.fd, `${line}\n`);
  }

  close(): void {
    if (this.fd < 0) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
  }
}
