// End to end: a video of real face photos played as a camera, people enrolled over the HTTP API
// from *other* photos of them, alerts read from the WebSocket as a subscriber would.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseConfig } from '../../src/config.ts';
import { startService, type RunningService } from '../../src/service.ts';
import { ffmpegPath } from '../../src/source/ffmpeg-path.ts';
import type { AlertMessage } from '../../src/alert/message.ts';

const LFW = process.env.UNMASK_LFW_DIR ?? join(import.meta.dirname, '../../../shared/data/lfw-view1/images_deepfunneled');
const haveLfw = existsSync(LFW);
if (!haveLfw) console.warn(`e2e: skipped, LFW View 1 not found at ${LFW} (set UNMASK_LFW_DIR)`);

/** The k-th photo (from 0, in name order) of a person. */
const lfw = (name: string, k: number) => join(LFW, name, readdirSync(join(LFW, name)).sort()[k]);
/** In the video (their first photo) and enrolled (their second and third). */
const ON_CAMERA = ['Colin_Powell', 'Donald_Rumsfeld', 'Laura_Bush'];
/** Enrolled, never on camera: any alert naming them is wrong. */
const DISTRACTORS = ['Jean_Chretien', 'John_Ashcroft', 'Jennifer_Capriati'];
const display = (name: string) => name.replace(/_/g, ' ');
const KEY = 'e2e-test-key-0123456789';
const demoDir = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');

/** 640×360 H.264: each person's photo for 3 s, centred on grey. */
function makeVideo(dir: string): string {
  const out = join(dir, 'people.mp4');
  const inputs = ON_CAMERA.flatMap((name) => ['-loop', '1', '-t', '3', '-i', lfw(name, 0)]);
  const filter =
    ON_CAMERA.map((_, i) => `[${i}:v]scale=250:250,pad=640:360:195:55:gray,setsar=1,fps=25[v${i}]`).join(';') +
    ';' + ON_CAMERA.map((_, i) => `[v${i}]`).join('') + `concat=n=${ON_CAMERA.length}:v=1:a=0[out]`;
  execFileSync(ffmpegPath(), ['-v', 'error', '-y', ...inputs, '-filter_complex', filter, '-map', '[out]', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', out]);
  return out;
}

async function api(service: RunningService, path: string, init: RequestInit = {}, key: string | null = KEY) {
  const headers = new Headers(init.headers);
  if (key) headers.set('X-API-Key', key);
  const res = await fetch(service.url + path, { ...init, headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function createIdentity(service: RunningService, name: string): Promise<number> {
  const res = await api(service, '/api/identities', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
  expect(res.status).toBe(201);
  return res.body.id as number;
}

function enrollBytes(service: RunningService, id: number, bytes: Uint8Array, type = 'image/jpeg') {
  return api(service, `/api/identities/${id}/faces`, { method: 'POST', headers: { 'content-type': type }, body: bytes as Uint8Array<ArrayBuffer> });
}

/** Enrolls a portrait; when background faces show too, picks the one nearest the centre, as the error invites. */
async function enrollPortrait(service: RunningService, id: number, file: string): Promise<string> {
  const bytes = readFileSync(file);
  let res = await enrollBytes(service, id, bytes);
  if (res.status === 422 && res.body.error === 'multiple_faces') {
    const { width = 0, height = 0 } = await sharp(bytes).metadata();
    const faces = res.body.faces as { index: number; box: { x: number; y: number; width: number; height: number } }[];
    const off = (f: (typeof faces)[number]) => Math.hypot(f.box.x + f.box.width / 2 - width / 2, f.box.y + f.box.height / 2 - height / 2);
    const central = faces.reduce((a, b) => (off(b) < off(a) ? b : a));
    res = await api(service, `/api/identities/${id}/faces?face=${central.index}`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: bytes });
  }
  return `${res.status} ${res.status >= 400 ? String(res.body.message) : ''}`.trim();
}

async function sampleCount(service: RunningService): Promise<number> {
  const { body } = await api(service, '/api/identities');
  const identities = body.identities as { id: number }[];
  let n = 0;
  for (const i of identities) n += ((await api(service, `/api/identities/${i.id}`)).body.samples as unknown[]).length;
  return n;
}

function subscribe(service: RunningService, alerts: AlertMessage[]): Promise<WebSocket> {
  const ws = new WebSocket(`${service.url.replace('http', 'ws')}/alerts?api_key=${KEY}`);
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data));
    if (msg.type === 'alert') alerts.push(msg);
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!haveLfw)('service end to end', () => {
  let dir: string;
  let service: RunningService;
  const alerts: AlertMessage[] = [];
  let ws: WebSocket;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'unmask-e2e-'));
    const video = makeVideo(dir);
    const config = parseConfig({
      cameras: [{ name: 'lobby', url: video, loop: true, realtime: true, fps: 5 }],
      source: { stallTimeoutSec: 3, backoffInitialMs: 200, backoffMaxMs: 1000 },
      match: { cooldownSec: 2 },
      gallery: { path: join(dir, 'gallery.db'), maxImageBytes: 2 * 1024 * 1024 },
      server: { port: 0, apiKey: KEY },
      ui: { enabled: false },
      log: { level: 'warn' },
    });
    service = await startService(config);
    ws = await subscribe(service, alerts);
    // Enrollment over the API while the camera already runs, as a user would.
    for (const name of ON_CAMERA) {
      const id = await createIdentity(service, display(name));
      for (const k of [1, 2]) expect(await enrollPortrait(service, id, lfw(name, k))).toBe('201');
    }
    for (const name of DISTRACTORS) {
      const id = await createIdentity(service, display(name));
      expect(await enrollPortrait(service, id, lfw(name, 1))).toBe('201');
    }
  });

  afterAll(async () => {
    ws?.close();
    await service?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a client without the key, on the WebSocket and on the API', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const bad = new WebSocket(`${service.url.replace('http', 'ws')}/alerts`);
      bad.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      bad.on('open', () => reject(new Error('a client without the key was let in')));
      bad.on('error', () => undefined);
    });
    expect(status).toBe(401);
    expect((await api(service, '/api/identities', {}, null)).status).toBe(401);
    expect((await api(service, '/api/identities', {}, 'wrong-key-wrong-key')).status).toBe(401);
  });

  it('alerts the people on camera by name, and nobody else', async () => {
    const expected = ON_CAMERA.map(display);
    await waitFor(() => expected.every((name) => alerts.some((a) => a.identity?.name === name)), 60_000, `alerts for ${expected.join(', ')}`);
    const named = new Set(alerts.map((a) => a.identity?.name ?? 'unknown'));
    expect([...named].sort()).toEqual([...expected].sort());
    const alert = alerts[0];
    expect(alert.schema).toBe(1);
    expect(alert.camera).toBe('lobby');
    expect(alert.score).toBeGreaterThanOrEqual(parseConfig({}).match.threshold);
    expect(Date.parse(alert.sentTime)).toBeGreaterThanOrEqual(Date.parse(alert.frameTime));
    const jpeg = await sharp(Buffer.from(alert.faceJpeg, 'base64')).metadata();
    expect([jpeg.format, jpeg.width, jpeg.height]).toEqual(['jpeg', 128, 128]);
  });

  it('recovers when the stream dies mid-run, and alerts again', async () => {
    const camera = service.cameras.get('lobby')!;
    await waitFor(() => camera.status().state === 'live', 10_000, 'the camera to be live');
    const pid = camera.pid()!;
    const restartsBefore = camera.status().restarts;
    process.kill(pid, 'SIGKILL');
    await waitFor(() => camera.status().restarts > restartsBefore && camera.status().state === 'live' && camera.pid() !== pid, 15_000, 'the camera to come back');
    const health = await fetch(`${service.url}/healthz`).then((r) => r.json());
    expect(health.cameras.lobby.restarts).toBeGreaterThan(restartsBefore);
    // Every model runs on the configured provider (cpu by default), shown in /healthz and /metrics.
    expect(health.models.providers).toEqual({ detector: 'cpu', landmarks: 'cpu', 'mask-landmarks': 'cpu', arcface: 'cpu', occlusion: 'cpu', inpaint: 'cpu' });
    expect(health.models.recognizer).toMatch(/^faceplugin-arcface@/);
    // Masked faces: the upper-face recognizer, and the model that finds their eyes (match.upperFace.eyes).
    expect(health.models.upperFaceRecognizer).toMatch(/^faceplugin-arcface\+upper-face@/);
    expect(health.models.upperFaceEyes).toBe('faceplugin-landmark68');
    // …and the landmarks the segmenter's crop is aligned on (occlusion.landmarks).
    expect(health.models.occlusionLandmarks).toBe('faceplugin-landmark68');
    const metrics = await fetch(`${service.url}/metrics`).then((r) => r.text());
    expect(metrics).toContain('unmask_model_provider{model="inpaint",provider="cpu"} 1');
    const after = alerts.length;
    await waitFor(() => alerts.length > after, 30_000, 'an alert after the restart');
    expect(alerts.slice(after).every((a) => ON_CAMERA.map(display).includes(a.identity?.name ?? ''))).toBe(true);
  });

  it('refuses bad enrollment input with a reason, and stores nothing', async () => {
    const id = await createIdentity(service, 'Refused Person');
    const before = await sampleCount(service);
    const noise = await sharp(Buffer.from(Array.from({ length: 200 * 200 * 3 }, (_, i) => (i * 7919) % 251)), { raw: { width: 200, height: 200, channels: 3 } }).jpeg().toBuffer();
    const group = readFileSync(join(demoDir, 'sample1.jpg'));
    const small = await sharp(lfw('Laura_Bush', 3)).resize(90, 90).jpeg().toBuffer();
    const cases: [Uint8Array, string, number, RegExp][] = [
      [Buffer.from('this is not a picture'), 'image/jpeg', 415, /image/i],
      [noise, 'image/jpeg', 422, /face/i],
      [group, 'image/jpeg', 422, /faces/i],
      [Buffer.alloc(3 * 1024 * 1024, 1), 'image/jpeg', 413, /large|limit|bytes/i],
      [small, 'image/jpeg', 422, /small|face/i],
    ];
    for (const [bytes, type, status, message] of cases) {
      const res = await enrollBytes(service, id, bytes, type);
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      expect(String(res.body.message)).toMatch(message);
    }
    expect(await sampleCount(service)).toBe(before);
    // The same photo twice is stored once.
    const photo = readFileSync(lfw('Laura_Bush', 4));
    const laura = ((await api(service, '/api/identities')).body.identities as { id: number; name: string }[]).find((i) => i.name === 'Laura Bush')!;
    expect((await enrollBytes(service, laura.id, photo)).status).toBe(201);
    expect((await enrollBytes(service, laura.id, photo)).status).toBe(200);
    expect(await sampleCount(service)).toBe(before + 1);
  });
});
