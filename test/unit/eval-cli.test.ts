import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FACEAPI_RECOGNIZER_TEMPLATE, INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { registerEvalCommands, type EvalCliModels } from '../../src/cli/eval.ts';
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
        INPAINT_TEMPLATE.landmarkIndices.forEach((index, k) => {
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

async function run(args: string[], models: EvalCliModels): Promise<{ loads: number }> {
  const program = new Command('unmask').exitOverride();
  let loads = 0;
  registerEvalCommands(program, { loadModels: async () => (loads++, models) });
  await program.parseAsync(['node', 'unmask', 'eval', 'lfw', ...args]);
  return { loads };
}

describe('unmask eval lfw', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eval-cli-'));
  const lfw = join(dir, 'lfw');
  const pairsFile = join(dir, 'pairs.txt');
  beforeAll(async () => {
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
    await run(['--lfw', lfw, '--pairs', pairsFile, '--out', out, '--models', join(dir, 'no-models'), '--seed', '3'], models);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results).toMatchObject({ n_pairs: 8, n_images: 8, seed: 3, models: {}, detection: { found: 8, fallback: 0 } });
    expect(Object.keys(results.psnr)).toEqual(['OCC', 'Telea']);
    // Flat images: Telea restores them exactly (PSNR capped at 100 dB).
    expect(results.psnr.Telea).toBe(100);
    expect(results.accuracy['fake-colour'].GT.mean).toBe(1);
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toContain('--seed 3');
    expect(models.closed).toBe(true);
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
