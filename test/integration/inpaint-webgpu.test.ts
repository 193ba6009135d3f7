// The generator on onnxruntime-node's GPU providers. Where WebGPU has an adapter (Dawn over Vulkan: an
// NVIDIA driver with its Vulkan ICD, and libvulkan1), its output must be the CPU's; elsewhere that test
// is skipped with the reason, and asking for WebGPU or CUDA must give a working CPU session instead.
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { syntheticFaces } from '../../lab/bench/inpaint-bench.ts';
import { INPAINT_TEMPLATE } from '../../src/align/templates.ts';
import { OnnxInpainter } from '../../src/repair/idgan.ts';

const INPAINT_SIZE = INPAINT_TEMPLATE.size;
import { ProviderUnavailableError } from '../../src/models/providers.ts';

const MODEL = resolve(import.meta.dirname, '../../models/idgan-inpaint.onnx');

/** The WebGPU session, or why there is none here. */
async function webgpu(): Promise<{ inpainter?: OnnxInpainter; why?: string }> {
  try {
    return { inpainter: await OnnxInpainter.load(MODEL, { provider: 'webgpu', fallback: false }) };
  } catch (err) {
    if (err instanceof ProviderUnavailableError) return { why: err.reason };
    throw err;
  }
}

const gpu = await webgpu();
if (gpu.why) console.warn(`inpaint-webgpu: WebGPU test skipped, no adapter here: ${gpu.why}`);
afterAll(async () => {
  await gpu.inpainter?.close();
});

describe.skipIf(!gpu.inpainter)('the generator on WebGPU', () => {
  it('inpaints a batch as the CPU does', async () => {
    const cpu = await OnnxInpainter.load(MODEL, { provider: 'cpu' });
    try {
      expect(gpu.inpainter!.provider).toBe('webgpu');
      const { crops, masks } = syntheticFaces(4, INPAINT_SIZE, 7);
      const onGpu = await gpu.inpainter!.inpaint(crops, masks);
      const onCpu = await cpu.inpaint(crops, masks);
      let sum = 0;
      let max = 0;
      let n = 0;
      onGpu.forEach((face, i) => {
        for (let p = 0; p < face.data.length; p++) {
          const d = Math.abs(face.data[p] - onCpu[i].data[p]);
          sum += d;
          max = Math.max(max, d);
          n++;
        }
      });
      // Float sums in another order: a few bytes apart at most, none on average.
      expect(sum / n).toBeLessThan(0.5);
      expect(max).toBeLessThanOrEqual(8);
    } finally {
      await cpu.close();
    }
  });
});

describe('a GPU provider that cannot start', () => {
  it('gives a CPU session that works, with the reason recorded', async () => {
    for (const provider of ['cuda', 'webgpu'] as const) {
      const inpainter = await OnnxInpainter.load(MODEL, { provider });
      try {
        if (inpainter.provider === provider) continue; // this machine has it
        expect(inpainter.provider).toBe('cpu');
        expect(inpainter.fallbacks).toHaveLength(1);
        expect(inpainter.fallbacks[0].provider).toBe(provider);
        expect(inpainter.fallbacks[0].reason).not.toBe('');
        const { crops, masks } = syntheticFaces(1, INPAINT_SIZE);
        expect(await inpainter.inpaint(crops, masks)).toHaveLength(1);
      } finally {
        await inpainter.close();
      }
    }
  });
});
