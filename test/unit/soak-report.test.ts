import { describe, expect, it } from 'vitest';
import { soakMarkdown, soakSvg, type SoakResult, type SoakSample } from '../../lab/bench/soak.ts';

const sample = (t: number, rssMiB: number): SoakSample => ({
  t,
  rssMiB,
  heapUsedMiB: 30,
  openFds: 70,
  activeHandles: 12,
  ffmpegChildren: 1,
  cameraState: 'live',
  framesIn: t * 5,
  framesDropped: 0,
});

const result: SoakResult = {
  kind: 'soak',
  minutes: 4,
  dropEverySec: 30,
  downSec: 3,
  fps: 5,
  drops: [
    { at: 30, recoveredAfterSec: 4.5, framesLost: 22 },
    { at: 60, recoveredAfterSec: null, framesLost: 150 },
  ],
  recoveries: 1,
  cameraRestarts: 2,
  framesIn: 1000,
  framesLost: 200,
  framesDroppedByPipeline: 3,
  // 1 MiB more every 60 s after the first two minutes.
  samples: [0, 60, 120, 180, 240].map((t) => sample(t, t < 120 ? 300 : 400 + (t - 120) / 60)),
  machine: { cpus: 2, cpuModel: 'test cpu', node: 'v20' },
};

describe('soak report', () => {
  it('tells recoveries, losses and the memory slope after start-up', () => {
    const md = soakMarkdown(result, 'npx unmask bench soak --minutes 4');
    expect(md).toContain('| recoveries (a frame again before the next drop) | 1 of 2 |');
    expect(md).toContain('| 60 | none | 150 |');
    expect(md).toContain('(16.7 %)');
    expect(md).toContain('| RSS slope after 2 min | 1.00 MiB/min |');
    expect(md).toContain('| open file descriptors, first → last (range) | 70 → 70 (70–70) |');
  });

  it('draws every series and a line per drop', () => {
    const svg = soakSvg(result);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(4);
    expect(svg.match(/stroke-dasharray="3,3"/g)).toHaveLength(2);
    expect(svg).toContain('every 30 s');
  });
});
