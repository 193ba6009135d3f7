// CameraSource against a real ffmpeg on tiny synthetic inputs (lavfi testsrc / color), made in a temp dir.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom, lastValueFrom, take, timeout, toArray } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type CameraConfig, type Config } from '../../src/config.ts';
import { CameraSource, videoFilter, type CameraState, type CameraStatus } from '../../src/source/camera.ts';
import { ensureDemoVideo } from '../../src/source/demo.ts';
import { ffmpegPath } from '../../src/source/ffmpeg-path.ts';
import type { Frame } from '../../src/pipeline/messages.ts';

const ffmpeg = ffmpegPath();
const dir = mkdtempSync(join(tmpdir(), 'unmask-source-'));
// The watchdog's stall limit is generous here: on a loaded CI machine ffmpeg can take seconds to show a
// first frame, and a restart that load causes is not what these tests look for (the stall test sets its own).
const settings: Config['source'] = { stallTimeoutSec: 6, backoffInitialMs: 100, backoffMaxMs: 400, bufferFrames: 2 };

/** Encodes a short lavfi clip with a codec every ffmpeg build has. */
function makeClip(name: string, lavfi: string, seconds: number): string {
  const file = join(dir, name);
  const made = spawnSync(ffmpeg, ['-v', 'error', '-y', '-f', 'lavfi', '-i', lavfi, '-t', String(seconds), '-c:v', 'mpeg4', '-q:v', '2', file]);
  if (made.status !== 0) throw new Error(`could not make ${name}: ${made.stderr}`);
  return file;
}

let twoSeconds: string;
let oneSecond: string;
let redBox: string;
beforeAll(() => {
  twoSeconds = makeClip('two.mp4', 'testsrc=size=160x120:rate=25', 2);
  oneSecond = makeClip('one.mp4', 'testsrc=size=160x120:rate=25', 1);
  redBox = makeClip('red.mp4', 'color=c=red:size=64x48:rate=25', 1);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sources: CameraSource[] = [];
const helpers: ChildProcess[] = [];
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
  for (const h of helpers.splice(0)) h.kill('SIGKILL');
});

function cameraOf(url: string, extra: Partial<CameraConfig> = {}): CameraConfig {
  return configSchema.parse({ cameras: [{ name: 'cam', url, width: 96, height: 72, ...extra }] }).cameras[0]!;
}

function open(url: string, extra: Partial<CameraConfig> = {}, overrides: Partial<Config['source']> = {}): CameraSource {
  const source = new CameraSource(cameraOf(url, extra), { ...settings, ...overrides });
  sources.push(source);
  return source;
}

function nextState(source: CameraSource, state: CameraState, withinMs = 8000): Promise<CameraStatus> {
  return firstValueFrom(source.statusChanges$.pipe(filter((s) => s.state === state), timeout(withinMs)));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // succeeds on a zombie too: only a reaped process is gone
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** ffmpeg processes that are children of this test process (zombies included). */
function ffmpegChildren(): string[] {
  const ps = spawnSync('ps', ['-o', 'pid=,stat=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return ps.stdout.split('\n').filter((line) => line.includes('ffmpeg'));
}

/** What ffmpeg itself outputs for the clip through the same filter: the reference bytes. */
function directDecode(file: string, camera: CameraConfig): Buffer {
  const out = spawnSync(ffmpeg, ['-v', 'error', '-i', file, '-vf', videoFilter(camera), '-map', '0:v:0', '-f', 'rawvideo', '-'], {
    maxBuffer: 64 * 1024 * 1024,
  });
  if (out.status !== 0) throw new Error(`direct decode failed: ${out.stderr}`);
  return out.stdout;
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

describe('CameraSource on files', () => {
  // 96×72 frames are smaller than a pipe chunk (several frames per chunk); 400×300 span several chunks.
  it.each([
    [96, 72],
    [400, 300],
  ])('delivers exact %i×%i rgb24 frames, byte for byte what ffmpeg decodes', async (width, height) => {
    const source = open(twoSeconds, { width, height, realtime: false });
    const frames = lastValueFrom(source.frames$.pipe(toArray()));
    source.start();
    const got = await frames;
    expect(got.length).toBeGreaterThan(0);
    for (const frame of got) {
      expect(frame.image.width).toBe(width);
      expect(frame.image.height).toBe(height);
      expect(frame.image.data.length).toBe(width * height * 3);
    }
    const reference = directDecode(twoSeconds, source.camera);
    expect(Buffer.concat(got.map((f) => f.image.data)).equals(reference)).toBe(true);
  });

  it('fits the picture keeping its aspect and pads the rest black', async () => {
    // 64×48 (4:3) into 64×36: scaled to 48×36, 8 black columns on each side.
    const source = open(redBox, { width: 64, height: 36, realtime: false });
    const first = firstValueFrom(source.frames$);
    source.start();
    const { image } = await first;
    const pixel = (x: number, y: number) => [...image.data.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3)];
    for (const x of [0, 6, 57, 63]) expect(pixel(x, 18)).toEqual([0, 0, 0]);
    for (const x of [10, 32, 53]) {
      const [r, g, b] = pixel(x, 18);
      expect(r).toBeGreaterThan(220);
      expect(g).toBeLessThan(30);
      expect(b).toBeLessThan(30);
    }
  });

  it('converts the frame rate: a 2 s clip at fps 5 gives about 10 frames, then ends', async () => {
    const source = open(twoSeconds, { fps: 5, realtime: false });
    const frames = lastValueFrom(source.frames$.pipe(toArray()));
    source.start();
    const got: Frame[] = await frames;
    expect(got.length).toBeGreaterThanOrEqual(9);
    expect(got.length).toBeLessThanOrEqual(11);
    expect(got.map((f) => f.seq)).toEqual(got.map((_, i) => i));
    expect(got.every((f, i) => i === 0 || f.time >= got[i - 1]!.time)).toBe(true);
    const status = source.status();
    expect(status).toMatchObject({ state: 'ended', restarts: 0, framesIn: got.length });
    expect(status.lastFrameAt).toBe(got.at(-1)!.time);
    expect(source.pid()).toBeUndefined();
  });

  it('loops a file within one ffmpeg, without restarts', async () => {
    const source = open(oneSecond, { fps: 10, loop: true, realtime: true });
    const frames = firstValueFrom(source.frames$.pipe(take(16), toArray(), timeout(6000)));
    source.start();
    await nextState(source, 'live');
    const pid = source.pid();
    const got = await frames;
    // 16 frames of a 1 s clip at fps 10: the second pass came from the same process.
    expect(got).toHaveLength(16);
    expect(source.pid()).toBe(pid);
    expect(source.status()).toMatchObject({ state: 'live', restarts: 0 });
  });

  it('retries a missing file with growing, capped delays and names the cause', async () => {
    const source = open(join(dir, 'missing.mp4'));
    const seen = firstValueFrom(source.statusChanges$.pipe(filter((s) => s.state === 'retrying' || s.state === 'connecting'), take(9), toArray(), timeout(8000)));
    source.start();
    const statuses = await seen;
    const retries = statuses.filter((s) => s.state === 'retrying');
    expect(retries.map((s) => s.retryDelayMs)).toEqual([100, 200, 400, 400]);
    expect(retries.map((s) => s.restarts)).toEqual([1, 2, 3, 4]);
    for (const r of retries) expect(r.lastError).toMatch(/ffmpeg exited with code \d+: .*missing\.mp4: No such file or directory/);
    // Each reconnection waited at least its delay.
    statuses.forEach((s, i) => {
      if (s.state === 'retrying') expect(statuses[i + 1]!.since - s.since).toBeGreaterThanOrEqual(s.retryDelayMs! - 2);
    });
    expect(source.status().framesIn).toBe(0);
  });

  it('restarts a killed ffmpeg and frames resume, with the backoff reset', async () => {
    const source = open(oneSecond, { fps: 10, loop: true, realtime: true });
    source.start();
    await nextState(source, 'live');
    const killed = source.pid()!;
    const retrying = nextState(source, 'retrying');
    const killedAt = Date.now();
    process.kill(killed, 'SIGKILL');
    const failure = await retrying;
    expect(failure.lastError).toMatch(/ffmpeg was killed by SIGKILL/);
    expect(failure.retryDelayMs).toBe(100); // the connection had delivered frames
    const resumed = await firstValueFrom(source.frames$.pipe(filter((f) => f.time > killedAt), timeout(6000)));
    expect(resumed.seq).toBe(0); // a new connection
    expect(source.status()).toMatchObject({ state: 'live', restarts: 1 });
    expect(source.pid()).not.toBe(killed);
    expect(isAlive(killed)).toBe(false);
  });

  it('stop() kills ffmpeg, reaps it, completes and never restarts', async () => {
    const source = open(oneSecond, { fps: 10, loop: true, realtime: true });
    const completed = lastValueFrom(source.frames$.pipe(toArray()));
    source.start();
    await nextState(source, 'live');
    const pid = source.pid()!;
    await source.stop();
    expect(isAlive(pid)).toBe(false);
    expect(ffmpegChildren()).toEqual([]);
    await completed;
    await new Promise((r) => setTimeout(r, 300));
    expect(source.status().state).toBe('stopped');
    expect(source.pid()).toBeUndefined();
  });

  it('stop() at any moment of start-up or retry leaves no ffmpeg behind', async () => {
    for (const afterMs of [0, 5, 30, 150]) {
      const source = open(oneSecond, { loop: true });
      source.start();
      await new Promise((r) => setTimeout(r, afterMs));
      await source.stop();
      expect(ffmpegChildren()).toEqual([]);
    }
    const retrying = open(join(dir, 'missing.mp4'), {}, { backoffInitialMs: 5000, backoffMaxMs: 5000 });
    retrying.start();
    await nextState(retrying, 'retrying');
    await retrying.stop();
    await new Promise((r) => setTimeout(r, 200));
    expect(retrying.status().state).toBe('stopped');
    expect(ffmpegChildren()).toEqual([]);
  });
});

describe('CameraSource on live inputs', () => {
  it('restarts a stream that sends nothing for stallTimeoutSec', async () => {
    const port = await freeUdpPort(); // nobody sends to it
    const source = open(`udp://127.0.0.1:${port}`, {}, { stallTimeoutSec: 1 });
    const startedAt = Date.now();
    source.start();
    const stalled = await nextState(source, 'retrying', 5000);
    expect(stalled.since - startedAt).toBeGreaterThanOrEqual(1000);
    expect(stalled.lastError).toBe('no frame for 1s');
    const [first] = await firstValueFrom(source.statusChanges$.pipe(filter((s) => s.state === 'connecting'), take(1), toArray(), timeout(3000)));
    expect(first!.restarts).toBe(1);
  });

  // ~6 s: MPEG-TS has no header, so ffmpeg probes a live stream for its whole analyzeduration (5 s by default).
  it('reads MPEG-TS over UDP', async () => {
    const port = await freeUdpPort();
    const source = open(`udp://127.0.0.1:${port}`, { fps: 5 }, { stallTimeoutSec: 10 });
    const frames = firstValueFrom(source.frames$.pipe(take(3), toArray(), timeout(12_000)));
    source.start();
    helpers.push(
      spawn(ffmpeg, ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25', '-t', '14', '-c:v', 'mpeg2video', '-f', 'mpegts', `udp://127.0.0.1:${port}?pkt_size=1316`]),
    );
    const got = await frames;
    expect(got.map((f) => f.image.data.length)).toEqual([96 * 72 * 3, 96 * 72 * 3, 96 * 72 * 3]);
    expect(source.status().state).toBe('live');
  });

  describe('over HTTP', () => {
    let server: Server;
    let port: number;
    beforeAll(async () => {
      // An MJPEG camera: multipart/x-mixed-replace from ffmpeg's mpjpeg muxer.
      server = createServer((req, res) => {
        res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace;boundary=ffmpeg' });
        const encoder = spawn(ffmpeg, ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25', '-t', '10', '-q:v', '5', '-f', 'mpjpeg', '-']);
        helpers.push(encoder);
        encoder.stdout.pipe(res);
        req.on('close', () => encoder.kill('SIGKILL'));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('reads an MJPEG stream, letting ffmpeg probe the format', async () => {
      const source = open(`http://127.0.0.1:${port}/video.mjpg`, { fps: 5 });
      const frames = firstValueFrom(source.frames$.pipe(take(3), toArray(), timeout(8000)));
      source.start();
      expect((await frames).every((f) => f.image.data.length === 96 * 72 * 3)).toBe(true);
    });

    it('names a refused connection in lastError', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const closedPort = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const source = open(`http://127.0.0.1:${closedPort}/video.mjpg`);
      source.start();
      const failure = await nextState(source, 'retrying');
      expect(failure.lastError).toMatch(/Connection refused/);
    });
  });
});

describe('the demo video', () => {
  // ~5 s: the one real encode of this file.
  it('is a ~20 s 640×360 25 fps H.264 MP4 from the six sample photos, built once', async () => {
    const demoDir = join(dir, 'demo');
    const [video, concurrent] = await Promise.all([ensureDemoVideo(demoDir), ensureDemoVideo(demoDir)]);
    expect(concurrent).toBe(video);
    expect(video).toMatch(/demo-[0-9a-f]{16}\.mp4$/);
    const info = spawnSync(ffmpeg, ['-hide_banner', '-i', video], { encoding: 'utf8' }).stderr;
    const [, minutes, seconds] = /Duration: 00:(\d\d):(\d\d\.\d+)/.exec(info)!;
    expect(Number(minutes) * 60 + Number(seconds)).toBeCloseTo(19.9, 0);
    expect(info).toMatch(/Video: h264 .*640x360.* 25 fps/);
    const builtAt = statSync(video).mtimeMs;
    const started = Date.now();
    expect(await ensureDemoVideo(demoDir)).toBe(video);
    expect(Date.now() - started).toBeLessThan(500);
    expect(statSync(video).mtimeMs).toBe(builtAt);
  });
});
