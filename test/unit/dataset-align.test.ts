import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { registerDatasetCommands } from '../../lab/cli/dataset.ts';
import {
  alignDataset,
  detectWithBorder,
  padByReplicatingEdges,
  parseIdentityList,
  pickCentralFace,
  type AlignDatasetOptions,
} from '../../lab/dataset/align.ts';
import { INDEX_HEADER, parseIndexRow } from '../../lab/dataset/index-file.ts';
import type { Detector } from '../../src/models/types.ts';
import type { DetectedFace, Point, RgbImage } from '../../src/types.ts';

describe('parseIdentityList', () => {
  it('reads "<file> <identity>" lines and skips blank ones', () => {
    expect(parseIdentityList('a.jpg 12\n\nb.jpg 7\r\n', 'ids')).toEqual([
      { file: 'a.jpg', identity: '12' },
      { file: 'b.jpg', identity: '7' },
    ]);
  });

  it('names the line of a malformed entry', () => {
    expect(() => parseIdentityList('a.jpg 1\nb.jpg\n', 'ids')).toThrow(/ids:2: expected "<file> <identity>"/);
  });

  it('refuses names that could leave the output folder', () => {
    expect(() => parseIdentityList('../a.jpg 1', 'ids')).toThrow(/not a plain file name/);
    expect(() => parseIdentityList('a.jpg ../../etc', 'ids')).toThrow(/identity "..\/..\/etc"/);
  });

  it('refuses a file listed twice and an empty list', () => {
    expect(() => parseIdentityList('a.jpg 1\na.jpg 2', 'ids')).toThrow(/listed twice/);
    expect(() => parseIdentityList('\n', 'ids')).toThrow(/lists no images/);
  });
});

function face(x: number, y: number, side: number, landmarks: Point[] = []): DetectedFace {
  return { box: { x, y, width: side, height: side }, score: 0.9, landmarks };
}

describe('pickCentralFace', () => {
  it('prefers the central face over a slightly larger one at the edge', () => {
    const central = face(70, 70, 60);
    const edge = face(140, 0, 64);
    expect(pickCentralFace([edge, central], 200, 200)).toBe(central);
  });

  it('prefers a much larger face near the centre over a small central one', () => {
    const small = face(90, 90, 20);
    const large = face(40, 30, 120);
    expect(pickCentralFace([small, large], 200, 200)).toBe(large);
  });

  it('returns undefined when nothing was found', () => {
    expect(pickCentralFace([], 200, 200)).toBeUndefined();
  });
});

describe('detection on a bordered image', () => {
  const image: RgbImage = { width: 2, height: 2, data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) };

  it('pads by repeating the edge pixels', () => {
    const padded = padByReplicatingEdges(image, 1);
    expect([padded.width, padded.height]).toEqual([4, 4]);
    const pixel = (x: number, y: number) => Array.from(padded.data.subarray((y * 4 + x) * 3, (y * 4 + x) * 3 + 3));
    expect(pixel(0, 0)).toEqual([1, 2, 3]);
    expect(pixel(1, 1)).toEqual([1, 2, 3]);
    expect(pixel(3, 0)).toEqual([4, 5, 6]);
    expect(pixel(0, 3)).toEqual([7, 8, 9]);
    expect(pixel(3, 3)).toEqual([10, 11, 12]);
  });

  it('gives boxes and landmarks in the coordinates of the original image', async () => {
    const photo: RgbImage = { width: 200, height: 160, data: new Uint8Array(200 * 160 * 3) };
    let seen: [number, number] = [0, 0];
    const detector: Detector = {
      id: 'fake',
      detect: async (padded) => {
        seen = [padded.width, padded.height];
        return [face(60, 70, 100, [{ x: 80, y: 90 }])];
      },
    };
    const [found] = await detectWithBorder(detector, photo);
    expect(seen).toEqual([300, 260]); // a border of 25% of the longer side, 50 px
    expect(found.box).toMatchObject({ x: 10, y: 20, width: 100 });
    expect(found.landmarks).toEqual([{ x: 30, y: 40 }]);
  });
});

/** 68 landmarks whose five template points sit at the template scaled by `scale` and moved by (dx, dy). */
function landmarksFor(scale: number, dx: number, dy: number): Point[] {
  const points: Point[] = Array.from({ length: 68 }, (_, i) => ({ x: dx + 30 + (i % 10) * 5, y: dy + 30 + Math.floor(i / 10) * 8 }));
  INPAINT_TEMPLATE.landmarkGroups.forEach(([index], k) => {
    const p = INPAINT_TEMPLATE.points[k];
    points[index] = { x: p.x * scale + dx, y: p.y * scale + dy };
  });
  return points;
}

/** Finds a face in every image except those whose top-left pixel is pure black. */
class FakeDetector implements Detector {
  readonly id = 'fake-ssd';
  calls = 0;
  async detect(image: RgbImage): Promise<DetectedFace[]> {
    this.calls++;
    if (image.data[0] === 0 && image.data[1] === 0 && image.data[2] === 0) return [];
    return [face(20, 20, 160, landmarksFor(1.5, 10, 5))];
  }
}

async function writeJpeg(path: string, colour: { r: number; g: number; b: number }): Promise<void> {
  await sharp({ create: { width: 200, height: 200, channels: 3, background: colour } }).jpeg({ quality: 95 }).toFile(path);
}

describe('alignDataset', () => {
  let root: string;
  let source: string;
  let options: AlignDatasetOptions;

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'unmask-dataset-'));
    source = join(root, 'src');
    mkdirSync(join(source, 'images'), { recursive: true });
    await writeJpeg(join(source, 'images', '001.jpg'), { r: 200, g: 150, b: 120 });
    await writeJpeg(join(source, 'images', '002.jpg'), { r: 0, g: 0, b: 0 });
    await writeJpeg(join(source, 'images', '003.jpg'), { r: 90, g: 160, b: 210 });
    writeFileSync(join(source, 'images', '004.jpg'), 'not a jpeg');
    writeFileSync(join(source, 'identity.txt'), '001.jpg 5\n002.jpg 5\n003.jpg 9\n004.jpg 9\n');
    options = { source, out: join(root, 'out'), seed: 0, valFraction: 0.1, concurrency: 2, minConfidence: 0.5 };
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('writes aligned 128×128 PNGs and an index with landmarks in crop pixels; counts the misses', async () => {
    const summary = await alignDataset(new FakeDetector(), options);
    expect(summary).toMatchObject({ listed: 4, skipped: 0, aligned: 2, missed: 2, totalAligned: 2, totalMissed: 2 });

    const meta = await sharp(join(options.out, '5', '001.png')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 128, 128]);
    expect(existsSync(join(options.out, '9', '003.png'))).toBe(true);

    const lines = readFileSync(join(options.out, 'index.csv'), 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe(INDEX_HEADER);
    const rows = lines.slice(1).map((line, i) => parseIndexRow(line, `row ${i}`));
    expect(rows.map((r) => r.file).sort()).toEqual(['001.jpg', '003.jpg']);
    const row = rows.find((r) => r.file === '001.jpg')!;
    expect(row).toMatchObject({ image: '5/001.png', identity: '5' });
    // The five alignment points land on the template (exact fit, up to the 2-decimal rounding of the CSV).
    INPAINT_TEMPLATE.landmarkGroups.forEach(([index], k) => {
      expect(row.landmarks[index].x).toBeCloseTo(INPAINT_TEMPLATE.points[k].x, 1);
      expect(row.landmarks[index].y).toBeCloseTo(INPAINT_TEMPLATE.points[k].y, 1);
    });

    const missed = readFileSync(join(options.out, 'missed.csv'), 'utf8');
    expect(missed).toMatch(/^002\.jpg,5,no face found by fake-ssd/m);
    expect(missed).toMatch(/^004\.jpg,9,"?cannot decode/m);
  });

  it('resumes: a second run skips what is done and repairs a row cut off mid-write', async () => {
    await alignDataset(new FakeDetector(), { ...options, limit: 1 });
    const indexPath = join(options.out, 'index.csv');
    writeFileSync(indexPath, readFileSync(indexPath, 'utf8') + '003.jpg,9/003.png,9,tr'); // an interrupted append

    const detector = new FakeDetector();
    const summary = await alignDataset(detector, options);
    expect(summary).toMatchObject({ listed: 4, skipped: 1, aligned: 1, missed: 2, totalAligned: 2 });
    expect(detector.calls).toBe(2); // 002 and 003: 001 was done, 004 fails before detection

    const again = new FakeDetector();
    expect(await alignDataset(again, options)).toMatchObject({ skipped: 4, aligned: 0, missed: 0, totalAligned: 2, totalMissed: 2 });
    expect(again.calls).toBe(0);
    const rows = readFileSync(indexPath, 'utf8').trimEnd().split('\n').slice(1);
    expect(rows.map((line) => line.split(',')[0]).sort()).toEqual(['001.jpg', '003.jpg']);
  });

  it('refuses to resume with other split settings', async () => {
    await alignDataset(new FakeDetector(), { ...options, limit: 1 });
    await expect(alignDataset(new FakeDetector(), { ...options, seed: 3 })).rejects.toThrow(/made with seed = 0, this run has 3/);
  });

  it('says what is missing from the source folder', async () => {
    await expect(alignDataset(new FakeDetector(), { ...options, source: join(root, 'nowhere') })).rejects.toThrow(/needs identity\.txt/);
  });

  it('runs as `dataset align` and reports the counts', async () => {
    const program = new Command('unmask').exitOverride();
    let closed = false;
    registerDatasetCommands(program, {
      loadModels: async () => {
        return { enrollDetector: new FakeDetector(), threads: 1, close: async () => void (closed = true) };
      },
    });
    const out: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
    try {
      await program.parseAsync(['node', 'unmask', 'dataset', 'align', source, '--out', options.out, '--limit', '3']);
    } finally {
      process.stdout.write = write;
    }
    expect(closed).toBe(true);
    expect(out.join('')).toMatch(/3 images listed: 2 aligned now, 1 without a face now, 0 done before/);
  });
});
