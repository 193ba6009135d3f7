// `unmask bench soak`: the service against a camera that drops every `dropEverySec` for `minutes`.
// The camera is an MJPEG server on loopback (ffmpeg encodes the demo video per connection); at each
// drop it cuts every connection and refuses new ones for `downSec`. Measured: how the camera came
// back after each drop, the frames lost, and the process's memory, file descriptors, active handles
// and ffmpeg children over time (a leak shows as a slope), with an SVG plot.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { parseConfig, type Config } from '../../src/config.ts';
import { startService } from '../../src/service.ts';
import { ensureDemoVideo } from '../../src/source/demo.ts';
import { ffmpegPath } from '../../src/source/ffmpeg-path.ts';

export interface SoakOptions {
  minutes: number;
  dropEverySec: number;
  downSec: number;
  /** Seconds between two samples of the process. */
  sampleEverySec: number;
  fps: number;
  /** The gallery and events files of the run (a temporary folder). */
  dataDir: string;
  config?: Config;
  progress?: (line: string) => void;
}

export interface SoakSample {
  /** Seconds since the start of the run. */
  t: number;
  rssMiB: number;
  heapUsedMiB: number;
  openFds: number;
  activeHandles: number;
  ffmpegChildren: number;
  cameraState: string;
  framesIn: number;
  framesDropped: number;
}

export interface SoakDrop {
  /** Seconds since the start of the run. */
  at: number;
  /** Seconds from the drop to the first frame after it; null when none came before the next drop. */
  recoveredAfterSec: number | null;
  /** Frames the camera would have sent meanwhile at its fps, and did not. */
  framesLost: number;
}

export interface SoakResult {
  kind: 'soak';
  minutes: number;
  dropEverySec: number;
  downSec: number;
  fps: number;
  drops: SoakDrop[];
  recoveries: number;
  cameraRestarts: number;
  framesIn: number;
  /** Frames expected at the camera's fps over the run, less those received. */
  framesLost: number;
  /** Frames the pipeline dropped because detection was behind (not the camera's fault). */
  framesDroppedByPipeline: number;
  samples: SoakSample[];
  machine: { cpus: number; cpuModel: string; node: string };
}

/** Child processes of this process whose command is ffmpeg (Linux /proc; 0 elsewhere). */
function ffmpegChildren(): number {
  let count = 0;
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const close = stat.lastIndexOf(')');
        const comm = stat.slice(stat.indexOf('(') + 1, close);
        const ppid = Number(stat.slice(close + 2).split(' ')[1]);
        if (ppid === process.pid && comm.startsWith('ffmpeg')) count++;
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    return 0;
  }
  return count;
}

function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}

/**
 * The dropping camera: MJPEG over HTTP, one ffmpeg encoder per connection, at the video's own 25 fps
 * (MJPEG carries no timestamps: a reader takes 25 fps, and the camera's fps filter keeps its share).
 */
class DroppingCamera {
  private readonly server: Server;
  private readonly connections = new Set<{ res: ServerResponse; encoder: ChildProcess }>();
  private downUntil = 0;

  constructor(private readonly video: string) {
    this.server = createServer((req, res) => this.serve(req, res));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/stream.mjpeg`;
  }

  /** Cuts every connection; refuses new ones for `downSec`. */
  drop(downSec: number): void {
    this.downUntil = Date.now() + downSec * 1000;
    for (const connection of this.connections) {
      connection.encoder.kill('SIGKILL');
      connection.res.destroy();
    }
    this.connections.clear();
  }

  close(): Promise<void> {
    this.drop(0);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    if (Date.now() < this.downUntil) {
      res.socket?.destroy(); // as a camera that is off: the connection goes, nothing is said
      return;
    }
    const encoder = spawn(
      ffmpegPath(),
      ['-v', 'error', '-re', '-stream_loop', '-1', '-i', this.video, '-q:v', '5', '-f', 'mpjpeg', '-boundary_tag', 'frame', '-'],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const connection = { res, encoder };
    this.connections.add(connection);
    res.writeHead(200, { 'content-type': 'multipart/x-mixed-replace;boundary=frame', 'cache-control': 'no-store' });
    encoder.stdout!.pipe(res);
    const end = () => {
      encoder.kill('SIGKILL');
      this.connections.delete(connection);
    };
    req.on('close', end);
    encoder.on('exit', () => res.end());
  }
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const say = opts.progress ?? (() => undefined);
  const video = await ensureDemoVideo('var/demo');
  const camera = new DroppingCamera(video);
  const url = await camera.listen();
  const base = opts.config ?? parseConfig({});
  const config = parseConfig({
    ...base,
    cameras: [{ name: 'soak', url, fps: opts.fps }],
    gallery: { ...base.gallery, path: `${opts.dataDir}/gallery.db` },
    events: { ...base.events, path: undefined },
    match: { ...base.match, alertUnknown: true },
    server: { ...base.server, port: 0, apiKey: undefined },
    ui: { ...base.ui, enabled: false },
    log: { level: 'warn' },
  });
  const service = await startService(config);
  const source = service.cameras.get('soak')!;
  const frameTimes: number[] = [];
  const frames = source.frames$.subscribe((frame) => frameTimes.push(frame.time));

  const started = Date.now();
  const seconds = () => (Date.now() - started) / 1000;
  const samples: SoakSample[] = [];
  const dropTimes: number[] = [];
  const sample = () => {
    const status = source.status();
    const memory = process.memoryUsage();
    samples.push({
      t: Math.round(seconds() * 10) / 10,
      rssMiB: Math.round((memory.rss / 2 ** 20) * 10) / 10,
      heapUsedMiB: Math.round((memory.heapUsed / 2 ** 20) * 10) / 10,
      openFds: openFds(),
      activeHandles: process.getActiveResourcesInfo().length,
      ffmpegChildren: ffmpegChildren(),
      cameraState: status.state,
      framesIn: status.framesIn,
      framesDropped: service.pipeline.stats().soak?.framesDropped ?? 0,
    });
  };
  sample();
  const sampler = setInterval(sample, opts.sampleEverySec * 1000);
  const dropper = setInterval(() => {
    dropTimes.push(Date.now());
    camera.drop(opts.downSec);
    say(`${seconds().toFixed(0)} s: camera dropped (${dropTimes.length}), down for ${opts.downSec} s; RSS ${samples.at(-1)?.rssMiB} MiB`);
  }, opts.dropEverySec * 1000);
  await new Promise((resolve) => setTimeout(resolve, opts.minutes * 60_000));
  clearInterval(dropper);
  clearInterval(sampler);
  sample();
  const ended = Date.now();
  const status = source.status();
  const framesDroppedByPipeline = service.pipeline.stats().soak?.framesDropped ?? 0;
  frames.unsubscribe();
  await service.stop();
  await camera.close();

  const drops: SoakDrop[] = dropTimes.map((at, i) => {
    const next = dropTimes[i + 1] ?? ended;
    const first = frameTimes.find((t) => t > at && t < next);
    const lastBefore = [...frameTimes].reverse().find((t) => t <= at) ?? at;
    const gapSec = ((first ?? next) - lastBefore) / 1000;
    return {
      at: Math.round(((at - started) / 1000) * 10) / 10,
      recoveredAfterSec: first === undefined ? null : Math.round(((first - at) / 1000) * 100) / 100,
      framesLost: Math.max(0, Math.round(gapSec * opts.fps) - 1),
    };
  });
  const runSeconds = (ended - started) / 1000;
  return {
    kind: 'soak',
    minutes: opts.minutes,
    dropEverySec: opts.dropEverySec,
    downSec: opts.downSec,
    fps: opts.fps,
    drops,
    recoveries: drops.filter((d) => d.recoveredAfterSec !== null).length,
    cameraRestarts: status.restarts,
    framesIn: status.framesIn,
    framesLost: Math.max(0, Math.round(runSeconds * opts.fps) - status.framesIn),
    framesDroppedByPipeline,
    samples,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version },
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : NaN;
};

/** The least-squares slope of y over t, per minute. */
function slopePerMinute(points: { t: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mt = points.reduce((s, p) => s + p.t, 0) / n, my = points.reduce((s, p) => s + p.y, 0) / n;
  const num = points.reduce((s, p) => s + (p.t - mt) * (p.y - my), 0);
  const den = points.reduce((s, p) => s + (p.t - mt) ** 2, 0);
  return den > 0 ? (num / den) * 60 : 0;
}

export function soakMarkdown(r: SoakResult, command: string): string {
  const recovered = r.drops.flatMap((d) => (d.recoveredAfterSec === null ? [] : [d.recoveredAfterSec]));
  const first = r.samples[0], last = r.samples.at(-1)!;
  // After the first two minutes (start-up, caches), what still grows is a leak.
  const settled = r.samples.filter((s) => s.t >= 120);
  const series = (pick: (s: SoakSample) => number) => settled.map((s) => ({ t: s.t, y: pick(s) }));
  const range = (pick: (s: SoakSample) => number) => `${Math.min(...r.samples.map(pick))}–${Math.max(...r.samples.map(pick))}`;
  return [
    `# Soak: a camera that drops every ${r.dropEverySec} s`,
    '',
    `\`${command}\``,
    '',
    `Machine: ${r.machine.cpus} × ${r.machine.cpuModel}, Node ${r.machine.node}. ${r.minutes} min; the camera (MJPEG over HTTP on loopback, ` +
      `the demo video at ${r.fps} fps) cut every connection every ${r.dropEverySec} s and refused new ones for ${r.downSec} s.`,
    '',
    '| what | measured |',
    '|---|---|',
    `| drops | ${r.drops.length} |`,
    `| recoveries (a frame again before the next drop) | ${r.recoveries} of ${r.drops.length} |`,
    `| time from drop to the first frame again | median ${median(recovered).toFixed(2)} s, ${Math.min(...recovered).toFixed(2)}–${Math.max(...recovered).toFixed(2)} s |`,
    `| camera restarts (ffmpeg started again by the watchdog) | ${r.cameraRestarts} |`,
    `| frames received | ${r.framesIn} |`,
    `| frames lost (expected at ${r.fps} fps − received; the first connection's start included) | ${r.framesLost} (${((100 * r.framesLost) / (r.framesIn + r.framesLost)).toFixed(1)} %) |`,
    `| frames the pipeline dropped (detection behind) | ${r.framesDroppedByPipeline} |`,
    `| RSS, first → last sample (range) | ${first.rssMiB} → ${last.rssMiB} MiB (${range((s) => s.rssMiB)}) |`,
    `| RSS slope after 2 min | ${slopePerMinute(series((s) => s.rssMiB)).toFixed(2)} MiB/min |`,
    `| heap used, first → last | ${first.heapUsedMiB} → ${last.heapUsedMiB} MiB |`,
    `| open file descriptors, first → last (range) | ${first.openFds} → ${last.openFds} (${range((s) => s.openFds)}) |`,
    `| active handles, first → last (range) | ${first.activeHandles} → ${last.activeHandles} (${range((s) => s.activeHandles)}) |`,
    `| ffmpeg children, range | ${range((s) => s.ffmpegChildren)} |`,
    '',
    'The camera runs in the same process as the service: its connections and its encoder (an ffmpeg child) are in the counts.',
    '',
    'Per drop: second of the run, seconds to the first frame after it, frames lost.',
    '',
    '| at (s) | recovered after (s) | frames lost |',
    '|---|---|---|',
    ...r.drops.map((d) => `| ${d.at} | ${d.recoveredAfterSec ?? 'none'} | ${d.framesLost} |`),
    '',
    'Plot: `soak.svg` (RSS and heap in MiB, open file descriptors and active handles; a dashed line at each drop).',
    '',
  ].join('\n');
}

/** A line chart of the samples: memory (MiB, left axis) and handle counts (right axis), drops marked. */
export function soakSvg(r: SoakResult): string {
  const W = 900, H = 420, left = 60, right = 60, top = 40, bottom = 50;
  const plotW = W - left - right, plotH = H - top - bottom;
  const tMax = Math.max(...r.samples.map((s) => s.t), 1);
  const memMax = Math.ceil(Math.max(...r.samples.map((s) => s.rssMiB)) / 100) * 100 || 100;
  const countMax = Math.ceil(Math.max(...r.samples.flatMap((s) => [s.openFds, s.activeHandles])) / 50) * 50 || 50;
  const x = (t: number) => left + (t / tMax) * plotW;
  const yMem = (v: number) => top + plotH - (v / memMax) * plotH;
  const yCount = (v: number) => top + plotH - (v / countMax) * plotH;
  const line = (pick: (s: SoakSample) => number, y: (v: number) => number, colour: string, dash = '') =>
    `<polyline fill="none" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${r.samples.map((s) => `${x(s.t).toFixed(1)},${y(pick(s)).toFixed(1)}`).join(' ')}"/>`;
  const ticks = (max: number, y: (v: number) => number, atX: number, anchor: string) =>
    [0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${atX}" y="${(y(max * f) + 4).toFixed(1)}" text-anchor="${anchor}" font-size="11">${Math.round(max * f)}</text>`).join('');
  const timeTicks = Array.from({ length: 6 }, (_, i) => (tMax * i) / 5)
    .map((t) => `<text x="${x(t).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle" font-size="11">${(t / 60).toFixed(1)}</text>`)
    .join('');
  const drops = r.drops.map((d) => `<line x1="${x(d.at).toFixed(1)}" y1="${top}" x2="${x(d.at).toFixed(1)}" y2="${top + plotH}" stroke="#bbb" stroke-dasharray="3,3"/>`).join('');
  const legend = [
    ['#1f77b4', 'RSS (MiB, left)'],
    ['#6baed6', 'heap used (MiB, left)'],
    ['#d62728', 'open fds (right)'],
    ['#2ca02c', 'active handles (right)'],
  ]
    .map(([colour, label], i) => `<rect x="${left + i * 190}" y="12" width="12" height="12" fill="${colour}"/><text x="${left + i * 190 + 16}" y="22" font-size="12">${label}</text>`)
    .join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    legend,
    `<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    drops,
    line((s) => s.rssMiB, yMem, '#1f77b4'),
    line((s) => s.heapUsedMiB, yMem, '#6baed6'),
    line((s) => s.openFds, yCount, '#d62728'),
    line((s) => s.activeHandles, yCount, '#2ca02c', '6,3'),
    ticks(memMax, yMem, left - 6, 'end'),
    ticks(countMax, yCount, left + plotW + 6, 'start'),
    timeTicks,
    `<text x="${left + plotW / 2}" y="${H - 12}" text-anchor="middle" font-size="12">minutes (dashed: the camera dropped, every ${r.dropEverySec} s)</text>`,
    '</svg>',
    '',
  ].join('\n');
}
