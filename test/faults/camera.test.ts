// Camera faults (issue 19's fault suite): ffmpeg SIGKILLed 20 times and SIGSTOPped, a source that
// accepts the connection and never sends, and a corrupt file. Each time the camera says why in
// lastError, backs off, and comes back (or keeps trying) without a crash or an ffmpeg left behind.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type CameraConfig, type Config } from '../../src/config.ts';
import { CameraSource, type CameraState, type CameraStatus } from '../../src/source/camera.ts';
import { ffmpegPath } from '../../src/source/ffmpeg-path.ts';

const settings: Config['source'] = { stallTimeoutSec: 6, backoffInitialMs: 100, backoffMaxMs: 400, bufferFrames: 2 };
let dir: string;
let clip: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'unmask-camera-faults-'));
  clip = join(dir, 'clip.mp4');
  const made = spawnSync(ffmpegPath(), ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25', '-t', '2', '-c:v', 'mpeg4', '-q:v', '2', clip]);
  if (made.status !== 0) throw new Error(`could not make the clip: ${made.stderr}`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sources: CameraSource[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
  for (const server of servers.splice(0)) server.close();
});

function open(url: string, extra: Partial<CameraConfig> = {}, overrides: Partial<Config['source']> = {}): CameraSource {
  const camera = configSchema.parse({ cameras: [{ name: 'cam', url, width: 96, height: 72, ...extra }] }).cameras[0]!;
  const source = new CameraSource(camera, { ...settings, ...overrides });
  sources.push(source);
  return source;
}

/** The first status (the current one included: the statuses replay it) in `state` after at least `restarts` restarts. */
function nextState(source: CameraSource, state: CameraState, restarts = 0, withinMs = 15_000): Promise<CameraStatus> {
  return firstValueFrom(source.statusChanges$.pipe(filter((s) => s.state === state && s.restarts >= restarts), timeout(withinMs)));
}

function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function waitFor(check: () => boolean, withinMs: number, what: string): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A TCP server that accepts every connection and never sends a byte. */
async function silentServer(): Promise<number> {
  const held: Socket[] = [];
  const server = createServer((socket) => {
    held.push(socket);
    socket.on('error', () => undefined);
  });
  server.on('close', () => held.forEach((s) => s.destroy()));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('camera faults', () => {
  it('ffmpeg SIGKILLed 20 times: each time the camera comes back live with a new ffmpeg, and the killed one is reaped', async () => {
    const source = open(clip, { fps: 10, loop: true, realtime: true });
    source.start();
    await nextState(source, 'live');
    const recoveries: number[] = [];
    for (let kill = 1; kill <= 20; kill++) {
      const pid = source.pid()!;
      const live = nextState(source, 'live', kill);
      const killedAt = Date.now();
      process.kill(pid, 'SIGKILL');
      await live;
      recoveries.push(Date.now() - killedAt);
      expect(source.status()).toMatchObject({ state: 'live', restarts: kill, lastError: 'ffmpeg was killed by SIGKILL' });
      expect(source.pid()).not.toBe(pid);
      await waitFor(() => isGone(pid), 5000, `ffmpeg ${pid} to be reaped`);
    }
    console.log(`camera: 20 SIGKILLs, back live after ${Math.min(...recoveries)}–${Math.max(...recoveries)} ms (median ${recoveries.sort((a, b) => a - b)[10]} ms)`);
  });

  it('ffmpeg SIGSTOPped: the watchdog sees no new frame, kills the stopped process and starts another', async () => {
    const source = open(clip, { fps: 10, loop: true, realtime: true }, { stallTimeoutSec: 1.5 });
    source.start();
    await nextState(source, 'live');
    const pid = source.pid()!;
    const retrying = nextState(source, 'retrying');
    process.kill(pid, 'SIGSTOP');
    expect((await retrying).lastError).toBe('no new frame for 1.5s');
    await nextState(source, 'live', 1);
    expect(source.pid()).not.toBe(pid);
    await waitFor(() => isGone(pid), 5000, 'the stopped ffmpeg to be killed and reaped');
  });

  for (const scheme of ['rtsp', 'http'] as const)
    it(`a ${scheme} source that accepts and never sends: retried with growing, capped delays, the reason kept`, async () => {
      const port = await silentServer();
      const source = open(`${scheme}://127.0.0.1:${port}/stream`, {}, { stallTimeoutSec: 1, backoffInitialMs: 100, backoffMaxMs: 400 });
      const failures: CameraStatus[] = [];
      source.statusChanges$.pipe(filter((s) => s.state === 'retrying')).subscribe((s) => failures.push(s));
      source.start();
      await waitFor(() => failures.length >= 4, 30_000, 'four retries');
      expect(failures.slice(0, 4).map((f) => f.retryDelayMs)).toEqual([100, 200, 400, 400]);
      for (const f of failures) expect(f.lastError).toMatch(/no frame for 1s|ffmpeg exited|timed out|Connection/);
      expect(source.status().framesIn).toBe(0);
    });

  it('a corrupt file: retried with the decoder’s reason, never live, nothing crashes', async () => {
    const corrupt = join(dir, 'corrupt.mp4');
    writeFileSync(corrupt, Buffer.concat([Buffer.from('\x00\x00\x00\x18ftypmp42'), Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 7919) % 251))]));
    const source = open(corrupt, { loop: true });
    const retrying = nextState(source, 'retrying');
    source.start();
    const failure = await retrying;
    expect(failure.lastError).toMatch(/ffmpeg exited with code \d+: .+/);
    expect(failure.lastError).toContain('corrupt.mp4');
    await nextState(source, 'retrying', 2);
    expect(source.status()).toMatchObject({ framesIn: 0 });
    expect(source.status().restarts).toBeGreaterThanOrEqual(2);
  });
});
