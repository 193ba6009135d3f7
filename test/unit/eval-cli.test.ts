import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FACEAPI_RECOGNIZER_TEMPLATE, INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { registerEvalCommands, type EvalCliModels } from '../../lab/cli/eval.ts';
import { templateGeometry } from '../../lab/eval/recognizers/types.ts';
import type { Inpainter } from '../../src/models/types.ts';
import type { Recognizer } from '../../src/models/types.ts';
import type { Point } from '../../src/types.ts';

const SIZE = 100;
// Tetrahedron colours (see eval-lfw.test.ts): every two people at cosine −1/3 after removing grey.
const COLOURS: Record<string, number[]> = { Ann: [188, 188, 188], Bob: [188, 68, 68], Cid: [68, 188, 68], Dee: [68, 68, 188] };
const PAIRS = ['4', 'Ann\t1\t2', 'Bob\t1\t2', 'Cid\t1\t2', 'Dee\t1\t2', 'Ann\t1\tBob\t1', 'Bob\t2\tCid\t1', 'Cid\t2\tDee\t1', 'Dee\t2\tAnn\t2', ''].join('\n');

function fakeModels(): EvalCliModels & { closed: boolean } {
  const models = {
    closed: false,
    enrollDetector: {
      id: 'fake-detector',
      async detect(image: { width: number }) {
        const pad = (image.width - SIZE) / 2; // detectWithBorder's border
        const landmarks: Point[] = Array.from({ length: 68 }, () => ({ x: pad + SIZE / 2, y: pad + SIZE / 2 }));
        INPAINT_TEMPLATE.landmarkGroups.forEach(([index], k) => {
          landmarks[index] = { x: pad + (INPAINT_TEMPLATE.points[k].x * SIZE) / 128, y: pad + (INPAINT_TEMPLATE.points[k].y * SIZE) / 128 };
        });
        return [{ box: { x: pad, y: pad, width: SIZE, height: SIZE }, score: 0.9, landmarks }];
      },
    },
    recognizer: {
      id: 'fake-colour',
      version: '1',
      dims: 3,
      template: FACEAPI_RECOGNIZER_TEMPLATE,
      async embed(crops: { data: Uint8Array }[]) {
        return crops.map((crop) => {
          const mean = [0, 0, 0];
          for (let i = 0; i < crop.data.length; i++) mean[i % 3] += crop.data[i];
          return Float32Array.from(mean.map((m) => m / (crop.data.length / 3) - 128));
        });
      },
    },
    async close() {
      models.closed = true;
    },
  };
  return models;
}

/** A fake generator: fills the hole with mid-grey. */
function greyInpainter(path: string): Inpainter {
  return {
    id: 'grey',
    version: path,
    size: 128,
    inpaint: async (crops, masks) =>
      crops.map((crop, i) => ({ ...crop, data: crop.data.map((v, k) => (masks[i][Math.floor(k / 3)] ? 128 : v)) })),
    close: async () => {},
  };
}

async function run(args: string[], models: EvalCliModels): Promise<{ loads: number; inpainters: string[] }> {
  const program = new Command('unmask').exitOverride();
  let loads = 0;
  const inpainters: string[] = [];
  const { recognizer } = models as EvalCliModels & { recognizer: Recognizer };
  registerEvalCommands(program, {
    loadModels: async () => (loads++, models),
    // The fake colour recognizer under every name asked for.
    loadRecognizer: async (id) => ({
      id,
      version: recognizer.version,
      dims: recognizer.dims,
      description: 'fake',
      chip: templateGeometry(recognizer.template),
      embed: (chips) => recognizer.embed(chips),
      close: async () => {},
    }),
    loadInpainter: async (path) => (inpainters.push(path), greyInpainter(path)),
  });
  await program.parseAsync(['node', 'unmask', 'eval', 'lfw', ...args]);
  return { loads, inpainters };
}

describe('unmask eval lfw', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eval-cli-'));
  const lfw = join(dir, 'lfw');
  const pairsFile = join(dir, 'pairs.txt');
  const modelsDir = join(dir, 'models');
  beforeAll(async () => {
    mkdirSync(modelsDir);
    writeFileSync(join(modelsDir, 'idgan-test.onnx'), 'generator bytes');
    writeFileSync(join(modelsDir, 'occlusion.onnx'), 'not a generator');
    for (const [name, [r, g, b]] of Object.entries(COLOURS)) {
      mkdirSync(join(lfw, name), { recursive: true });
      const data = new Uint8Array(SIZE * SIZE * 3);
      for (let i = 0; i < SIZE * SIZE; i++) data.set([r, g, b], i * 3);
      // PNG bytes under LFW's .jpg names: sharp reads the content, and the colours stay exact.
      const png = await sharp(Buffer.from(data), { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toBuffer();
      for (const n of [1, 2]) writeFileSync(join(lfw, name, `${name}_000${n}.jpg`), png);
    }
    writeFileSync(pairsFile, PAIRS);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => {
    process.exitCode = undefined;
    vi.restoreAllMocks();
  });

  it('writes results.json and results.md, and closes the models', async () => {
    const models = fakeModels();
    const out = join(dir, 'out');
    vi.spyOn(process.stdout, 'write').mockReturnValue(true);
    vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    const args = ['--lfw', lfw, '--pairs', pairsFile, '--out', out, '--models', modelsDir, '--recognizers', 'faceapi', '--cache', join(dir, 'cache'), '--seed', '3'];
    const { inpainters } = await run(args, models);
    // Only idgan-*.onnx files are generators; others in the folder (an occlusion model, say) are not.
    expect(inpainters).toEqual([join(modelsDir, 'idgan-test.onnx')]);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results).toMatchObject({ n_pairs: 8, n_images: 8, seed: 3, detection: { found: 8, fallback: 0 } });
    expect(results.models).toEqual({ 'idgan-test': createHash('sha256').update('generator bytes').digest('hex') });
    expect(Object.keys(results.psnr)).toEqual(['OCC', 'Telea', 'idgan-test']);
    // Flat images: Telea restores them exactly (PSNR capped at 100 dB).
    expect(results.psnr.Telea).toBe(100);
    expect(results.accuracy.faceapi.GT.mean).toBe(1);
    expect(results.computed).toEqual({ landmarks: 8, quality: 24, embeddings: 32 });
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toContain('--seed 3');
    expect(Object.values(results.figures)).toEqual(['fig4-montage.png', 'fig6-accuracy.png', 'fig7-tsne.png'].filter((f) => existsSync(join(out, f))));
    expect(models.closed).toBe(true);

    // The same run again: everything comes from the cache, and the numbers are the same.
    await run(args, fakeModels());
    const again = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(again.computed).toEqual({ landmarks: 0, quality: 0, embeddings: 0 });
    expect(again.accuracy).toEqual(results.accuracy);
    expect(again.psnr).toEqual(results.psnr);
  });

  it('computes only the conditions asked for, and Table II over the whole folder with --all', async () => {
    vi.spyOn(process.stdout, 'write').mockReturnValue(true);
    vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    writeFileSync(join(dir, 'four.txt'), ['2', 'Ann\t1\t2', 'Bob\t1\t2', 'Ann\t1\tCid\t1', 'Bob\t2\tCid\t1', ''].join('\n'));
    const out = join(dir, 'out-all');
    await run(['--lfw', lfw, '--pairs', join(dir, 'four.txt'), '--out', out, '--models', modelsDir, '--conditions', 'OCC,GT', '--recognizers', 'faceapi', '--no-cache', '--all'], fakeModels());
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results).toMatchObject({ n_pairs: 4, n_images: 5, n_quality_images: 8 });
    expect(Object.keys(results.accuracy.faceapi)).toEqual(['GT', 'OCC']);
    expect(Object.keys(results.psnr)).toEqual(['OCC']);
    expect(results.command).toContain('--conditions GT,OCC');
  });

  it.each([
    [['--limit', '3'], /needs at least 2 matched and 2 mismatched pairs, got 2 and 1 \(--limit 3: use 4 or more\)/],
    [['--conditions', 'GT,PM'], /--conditions: unknown "PM"; available: GT, OCC, Telea, idgan-test/],
    [['--conditions', 'GT,,OCC'], /--conditions "GT,,OCC": an empty name/],
    [['--recognizers', 'faceapi,faceapi'], /--recognizers names faceapi twice/],
    [['--recognizers', 'arcface'], /--recognizers: unknown "arcface"; available: faceapi, faceplugin, faceres/],
  ])('refuses %s before starting the models', async (flags, message) => {
    const stderr = vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    const { loads } = await run(['--lfw', lfw, '--pairs', pairsFile, '--out', join(dir, 'out-bad'), '--models', modelsDir, ...flags], fakeModels());
    expect(loads).toBe(0);
    expect(process.exitCode).toBe(1);
    expect(String(stderr.mock.calls[0][0])).toMatch(message);
  });

  it('names a missing image before starting the models', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    writeFileSync(join(dir, 'more.txt'), PAIRS.replace('Dee\t2\tAnn\t2', 'Dee\t2\tZed\t7'));
    const { loads } = await run(['--lfw', lfw, '--pairs', join(dir, 'more.txt'), '--out', join(dir, 'out2')], fakeModels());
    expect(loads).toBe(0);
    expect(process.exitCode).toBe(1);
    expect(String(stderr.mock.calls[0][0])).toMatch(/error: 1 image\(s\) of the pairs are missing .*Zed\/Zed_0007\.jpg \(line 9\)/);
  });

  it('names the line of a malformed pairs file', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    writeFileSync(join(dir, 'bad.txt'), PAIRS.replace('Cid\t1\t2', 'Cid\t1'));
    await run(['--lfw', lfw, '--pairs', join(dir, 'bad.txt'), '--out', join(dir, 'out3')], fakeModels());
    expect(process.exitCode).toBe(1);
    expect(String(stderr.mock.calls[0][0])).toMatch(/bad\.txt:4: expected a matched pair/);
  });
});
