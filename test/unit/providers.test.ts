// Choosing the execution provider: the order tried, CPU when a GPU one fails, no fallback when asked.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import {
  ProviderUnavailableError,
  providerCandidates,
  providerUnavailable,
  resolveProvider,
  type ExecutionProvider,
} from '../../src/models/providers.ts';

/** An opener that starts only the providers in `works`, and records what was tried. */
function opener(works: ExecutionProvider[]) {
  const tried: ExecutionProvider[] = [];
  const open = async (p: ExecutionProvider) => {
    tried.push(p);
    if (!works.includes(p)) throw new Error(`${p} failed to start\n    at some/native/file.cc:12`);
    return `session on ${p}`;
  };
  return { tried, open };
}

describe('providerCandidates', () => {
  it('auto tries CUDA, then WebGPU, then CPU; a GPU provider falls back to CPU; cpu is alone', () => {
    expect(providerCandidates('auto')).toEqual(['cuda', 'webgpu', 'cpu']);
    expect(providerCandidates('webgpu')).toEqual(['webgpu', 'cpu']);
    expect(providerCandidates('cuda')).toEqual(['cuda', 'cpu']);
    expect(providerCandidates('cpu')).toEqual(['cpu']);
  });
});

describe('resolveProvider', () => {
  it('takes the first provider that starts', async () => {
    const { tried, open } = opener(['cuda', 'webgpu', 'cpu']);
    expect(await resolveProvider('auto', open)).toEqual({ value: 'session on cuda', provider: 'cuda', fallbacks: [] });
    expect(tried).toEqual(['cuda']);
  });

  it('auto goes on to WebGPU, then CPU, recording each failure’s first line', async () => {
    const { tried, open } = opener(['cpu']);
    const r = await resolveProvider('auto', open);
    expect(r.provider).toBe('cpu');
    expect(r.fallbacks).toEqual([
      { provider: 'cuda', reason: 'cuda failed to start' },
      { provider: 'webgpu', reason: 'webgpu failed to start' },
    ]);
    expect(tried).toEqual(['cuda', 'webgpu', 'cpu']);
  });

  it('skips a provider whose library is absent without trying it', async () => {
    const { tried, open } = opener(['webgpu', 'cpu']);
    const r = await resolveProvider('auto', open, { unavailable: (p) => (p === 'cuda' ? 'no cuda library' : undefined) });
    expect(r).toEqual({ value: 'session on webgpu', provider: 'webgpu', fallbacks: [{ provider: 'cuda', reason: 'no cuda library' }] });
    expect(tried).toEqual(['webgpu']);
  });

  it('an explicit GPU provider that fails gives CPU', async () => {
    const { open } = opener(['cpu']);
    const r = await resolveProvider('webgpu', open);
    expect(r.provider).toBe('cpu');
    expect(r.fallbacks).toEqual([{ provider: 'webgpu', reason: 'webgpu failed to start' }]);
  });

  it('without fallback an explicit provider that fails is a ProviderUnavailableError', async () => {
    const { tried, open } = opener(['cpu']);
    const err = await resolveProvider('webgpu', open, { fallback: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect((err as ProviderUnavailableError).provider).toBe('webgpu');
    expect((err as Error).message).toBe('the webgpu execution provider cannot start here: webgpu failed to start');
    expect(tried).toEqual(['webgpu']);
  });

  it('a CPU failure (a bad model) is thrown as it is', async () => {
    const { open } = opener([]);
    await expect(resolveProvider('auto', open)).rejects.toThrow('cpu failed to start');
    await expect(resolveProvider('cpu', open)).rejects.toThrow('cpu failed to start');
  });
});

describe('providerUnavailable', () => {
  it('CUDA needs libonnxruntime_providers_cuda.so beside onnxruntime; the others are always worth a try', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ort-bin-'));
    try {
      expect(providerUnavailable('cuda', dir)).toMatch(/^no .*libonnxruntime_providers_cuda\.so \(install onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12/);
      writeFileSync(join(dir, 'libonnxruntime_providers_cuda.so'), '');
      expect(providerUnavailable('cuda', dir)).toBeUndefined();
      expect(providerUnavailable('webgpu', dir)).toBeUndefined();
      expect(providerUnavailable('cpu', dir)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('config', () => {
  it('defaults to CPU for both models, takes the others, and names a bad one', () => {
    const c = parseConfig({});
    expect(c.inpaint.provider).toBe('cpu');
    expect(c.occlusion.provider).toBe('cpu');
    expect(c.inpaint.batch).toEqual({ maxBatch: 32, maxWaitMs: 5 });
    expect(parseConfig({ inpaint: { provider: 'auto' }, occlusion: { provider: 'webgpu' } }).inpaint.provider).toBe('auto');
    expect(() => parseConfig({ inpaint: { provider: 'tpu' } })).toThrow(/inpaint\.provider/);
    expect(() => parseConfig({ inpaint: { batch: { maxBatch: 0 } } })).toThrow(/inpaint\.batch\.maxBatch/);
  });
});
