import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppendOnlyCsv, formatIndexRow, formatMissRow, parseIndexRow, type IndexRow } from '../../lab/dataset/index-file.ts';
import { splitOf } from '../../lab/dataset/split.ts';

describe('splitOf', () => {
  const identities = Array.from({ length: 2000 }, (_, i) => String(i + 1));

  it('holds out about the asked share of identities, the same on every call', () => {
    const val = identities.filter((id) => splitOf(id, 0, 0.1) === 'val');
    expect(val.length / identities.length).toBeGreaterThan(0.08);
    expect(val.length / identities.length).toBeLessThan(0.12);
    expect(identities.filter((id) => splitOf(id, 0, 0.1) === 'val')).toEqual(val);
  });

  it('draws another split for another seed', () => {
    const a = identities.filter((id) => splitOf(id, 0, 0.1) === 'val');
    const b = identities.filter((id) => splitOf(id, 1, 0.1) === 'val');
    expect(a).not.toEqual(b);
  });

  it('puts everyone in train at 0 and in val at 1; refuses a share outside [0, 1]', () => {
    expect(identities.every((id) => splitOf(id, 0, 0) === 'train')).toBe(true);
    expect(identities.every((id) => splitOf(id, 0, 1) === 'val')).toBe(true);
    expect(() => splitOf('1', 0, 1.5)).toThrow(/valFraction/);
  });
});

describe('index rows', () => {
  const row: IndexRow = {
    file: '182638.jpg',
    image: '7760/182638.png',
    identity: '7760',
    split: 'val',
    score: 0.98765,
    landmarks: Array.from({ length: 68 }, (_, i) => ({ x: i + 0.123, y: 127 - i * 0.5 })),
  };

  it('round-trip through CSV with landmarks to 2 decimals', () => {
    const back = parseIndexRow(formatIndexRow(row), 'test');
    expect(back.file).toBe(row.file);
    expect(back.split).toBe('val');
    expect(back.score).toBeCloseTo(0.9877, 4);
    back.landmarks.forEach((p, i) => {
      expect(p.x).toBeCloseTo(row.landmarks[i].x, 2);
      expect(p.y).toBeCloseTo(row.landmarks[i].y, 2);
    });
  });

  it('refuses rows of the wrong width or with a bad split', () => {
    expect(() => parseIndexRow('a,b,c', 'index.csv:3')).toThrow(/index.csv:3: expected 141 columns, got 3/);
    expect(() => parseIndexRow(formatIndexRow(row).replace(',val,', ',test,'), 'x')).toThrow(/split must be train or val/);
  });

  it('quotes a reason that holds a comma or a quote', () => {
    expect(formatMissRow({ file: 'a.jpg', identity: '1', reason: 'bad "header", truncated' })).toBe('a.jpg,1,"bad ""header"", truncated"');
  });
});

describe('AppendOnlyCsv', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'unmask-csv-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the file with its header and appends whole lines', () => {
    const path = join(dir, 'a.csv');
    const csv = AppendOnlyCsv.open(path, 'h1,h2');
    csv.append('1,2');
    csv.append('3,4');
    csv.close();
    expect(readFileSync(path, 'utf8')).toBe('h1,h2\n1,2\n3,4\n');
    expect(AppendOnlyCsv.open(path, 'h1,h2').lines).toEqual(['1,2', '3,4']);
  });

  it('cuts off an unfinished last line', () => {
    const path = join(dir, 'b.csv');
    writeFileSync(path, 'h1,h2\n1,2\n3,');
    const csv = AppendOnlyCsv.open(path, 'h1,h2');
    expect(csv.lines).toEqual(['1,2']);
    csv.append('5,6');
    csv.close();
    expect(readFileSync(path, 'utf8')).toBe('h1,h2\n1,2\n5,6\n');
  });

  it('refuses a file with another header', () => {
    const path = join(dir, 'c.csv');
    writeFileSync(path, 'other\n1\n');
    expect(() => AppendOnlyCsv.open(path, 'h1,h2')).toThrow(/does not start with the expected header/);
  });
});
