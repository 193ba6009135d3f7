import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkImagesExist, lfwImagePath, pairImages, parsePairs, readPairsFile } from '../../lab/eval/pairs.ts';

// View 1's layout (as pairsDevTest.txt: "500", matched then mismatched), tab-separated, 2 per class.
const VIEW1 = ['2', 'Abdullah_Gul\t13\t14', 'Adel_Al-Jubeir\t1\t3', 'AJ_Lamas\t1\tZach_Safrin\t1', 'Aaron_Guiel\t1\tReese_Witherspoon\t3', ''].join('\n');

// View 2's layout (pairs.txt: "10 300"), here 2 folds of 1 matched + 1 mismatched.
const VIEW2 = ['2\t1', 'Ann\t1\t2', 'Ann\t1\tBob\t2', 'Cid\t3\t4', 'Dee\t5\tEve\t6'].join('\n');

describe('parsePairs', () => {
  it('reads View 1: one set, matched pairs first', () => {
    const parsed = parsePairs(VIEW1);
    expect(parsed.format).toBe('view1');
    expect(parsed.folds).toBe(1);
    expect(parsed.pairs.map((p) => p.same)).toEqual([true, true, false, false]);
    expect(parsed.pairs[0]).toEqual({ a: { name: 'Abdullah_Gul', number: 13 }, b: { name: 'Abdullah_Gul', number: 14 }, same: true, fold: 0, line: 2 });
    expect(parsed.pairs[3]).toEqual({ a: { name: 'Aaron_Guiel', number: 1 }, b: { name: 'Reese_Witherspoon', number: 3 }, same: false, fold: 0, line: 5 });
  });

  it('reads View 2: folds of matched then mismatched pairs', () => {
    const parsed = parsePairs(VIEW2);
    expect(parsed.format).toBe('view2');
    expect(parsed.folds).toBe(2);
    expect(parsed.pairs.map((p) => [p.fold, p.same])).toEqual([[0, true], [0, false], [1, true], [1, false]]);
    expect(parsed.pairs[3].b).toEqual({ name: 'Eve', number: 6 });
  });

  it('names the line of a malformed pair', () => {
    expect(() => parsePairs(VIEW1.replace('Adel_Al-Jubeir\t1\t3', 'Adel_Al-Jubeir\t1'))).toThrow(/pairs file:3: expected a matched pair "name n1 n2" \(2 fields\)/);
    expect(() => parsePairs(VIEW1.replace('Zach_Safrin\t1', 'Zach_Safrin\tx'), 'dev.txt')).toThrow(/dev.txt:4: image number "x" is not a positive integer/);
    expect(() => parsePairs(VIEW2.replace('Dee\t5\tEve\t6', 'Dee\t5\t6'))).toThrow(/:5: expected a mismatched pair/);
  });

  it('refuses a bad header or a count that does not match it', () => {
    expect(() => parsePairs('')).toThrow(/:1: empty file/);
    expect(() => parsePairs('ten\nA\t1\t2')).toThrow(/:1: bad header "ten"/);
    expect(() => parsePairs(VIEW1.replace(/^2/, '3'))).toThrow(/promises 1 fold\(s\) × \(3 matched \+ 3 mismatched\) pairs = 6 lines, the file has 4/);
  });

  it('reads the real View 1 test file: 500 matched then 500 mismatched', async () => {
    const parsed = await readPairsFile('../shared/data/lfw-view1/pairsDevTest.txt');
    expect(parsed.pairs).toHaveLength(1000);
    expect(parsed.pairs.filter((p) => p.same)).toHaveLength(500);
    expect(parsed.pairs[500].same).toBe(false);
  });
});

describe('LFW images', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lfw-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lays out paths as <Name>/<Name>_<NNNN>.jpg', () => {
    expect(lfwImagePath('/lfw', { name: 'George_W_Bush', number: 10 })).toBe('/lfw/George_W_Bush/George_W_Bush_0010.jpg');
  });

  it('lists each image once', () => {
    expect(pairImages(parsePairs(VIEW2).pairs)).toEqual([
      { name: 'Ann', number: 1 }, { name: 'Ann', number: 2 }, { name: 'Bob', number: 2 },
      { name: 'Cid', number: 3 }, { name: 'Cid', number: 4 }, { name: 'Dee', number: 5 }, { name: 'Eve', number: 6 },
    ]);
  });

  it('names a missing image and its line', () => {
    const pairs = parsePairs(VIEW2).pairs.slice(0, 2);
    mkdirSync(join(dir, 'Ann'));
    writeFileSync(join(dir, 'Ann', 'Ann_0001.jpg'), '');
    writeFileSync(join(dir, 'Ann', 'Ann_0002.jpg'), '');
    expect(() => checkImagesExist(dir, pairs)).toThrow(new RegExp(`1 image\\(s\\) .* missing under .*: ${dir}/Bob/Bob_0002.jpg \\(line 3\\)`));
    mkdirSync(join(dir, 'Bob'));
    writeFileSync(join(dir, 'Bob', 'Bob_0002.jpg'), '');
    expect(() => checkImagesExist(dir, pairs)).not.toThrow();
  });
});
