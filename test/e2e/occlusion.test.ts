// End to end with occluded faces: a camera watching eight LFW people at once, each wearing
// MaskTheFace's surgical mask over the lower face; the people enrolled (over the HTTP API) from two
// clean photos each. The occlusion segmenter finds the masks, the ID-GAN generator fills them (the
// alert carries the repaired face), the faces are matched on their upper face, and the right names
// arrive: no wrong name at all, and at least MIN_NAMED of the eight named (below).
//
// Needs models/occlusion-seg.onnx and the generator (models/idgan-inpaint.onnx, or the file named by
// UNMASK_E2E_INPAINT_MODEL); skipped with the reason when one is missing.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseConfig } from '../../src/config.ts';
import { SURGICAL_MASK_TEMPLATE, withSurgicalMask } from '../../lab/eval/surgical-mask.ts';
import { startService, type RunningService } from '../../src/service.ts';
import { ffmpegPath } from '../../src/source/ffmpeg-path.ts';
import type { AlertMessage } from '../../src/alert/message.ts';

const root = join(import.meta.dirname, '../..');
const LFW = process.env.UNMASK_LFW_DIR ?? join(root, '../shared/data/lfw-view1/images_deepfunneled');
const MASK_TEMPLATE = join(root, '../shared/data', SURGICAL_MASK_TEMPLATE);
const OCCLUSION_MODEL = join(root, 'models/occlusion-seg.onnx');
const INPAINT_MODEL = process.env.UNMASK_E2E_INPAINT_MODEL ?? join(root, 'models/idgan-inpaint.onnx');
const missing = [
  [LFW, 'LFW View 1 (set UNMASK_LFW_DIR)'],
  [MASK_TEMPLATE, 'the MaskTheFace templates'],
  [OCCLUSION_MODEL, 'the occlusion segmenter'],
  [INPAINT_MODEL, 'the ID-GAN generator (the lead commits it; or set UNMASK_E2E_INPAINT_MODEL)'],
].filter(([path]) => !existsSync(path));
if (missing.length) console.warn(`e2e occlusion: skipped, missing ${missing.map(([path, what]) => `${what} at ${path}`).join('; ')}`);

const lfw = (name: string, k: number) => join(LFW, name, readdirSync(join(LFW, name)).sort()[k]);
// Who is on camera is not picked by outcome: the first eight LFW people (sorted) with three photos,
// the order training/tools/masked_identification.ts measures them in. Each needs 3 photos: 1 masked
// on camera, 2 enrolled.
const ON_CAMERA = readdirSync(LFW)
  .sort()
  .filter((name) => readdirSync(join(LFW, name)).length >= 3)
  .slice(0, 8);
const DISTRACTORS = ['Jean_Chretien', 'John_Ashcroft', 'Jennifer_Capriati'];
const display = (name: string) => name.replace(/_/g, ' ');
const KEY = 'e2e-occlusion-key-0123456789';
// The camera frame: 4 × 2 cells of 320 × 360, each person's masked photo at 250 px in the middle
// of their cell on grey, as training/tools/masked_lfw.ts's camera frame shows one person.
const CELL = { width: 320, height: 360, columns: 4 };
const cellOf = (box: { x: number; y: number; width: number; height: number }) =>
  Math.floor((box.y + box.height / 2) / CELL.height) * CELL.columns + Math.floor((box.x + box.width / 2) / CELL.width);
// The service names 56.1 % of the masked people its detector finds on such a frame, none wrongly
// (results/masked-identification/camera-frame-faceplugin.md, 198 people; 53.8 % with SSD): about 4
// of 8. At least 3 must be named (fixed before this test first ran), and a broken path names none.
const MIN_NAMED = 3;

/** 1280×720 H.264, 3 s: everyone on camera at once, masked. */
async function makeVideo(dir: string): Promise<string> {
  const cells = await Promise.all(
    ON_CAMERA.map(async (name, i) => ({
      input: await sharp(await withSurgicalMask(lfw(name, 0), MASK_TEMPLATE)).resize(250, 250).png().toBuffer(),
      left: (i % CELL.columns) * CELL.width + (CELL.width - 250) / 2,
      top: Math.floor(i / CELL.columns) * CELL.height + (CELL.height - 250) / 2,
    })),
  );
  const frame = join(dir, 'masked-people.png');
  await sharp({ create: { width: 1280, height: 720, channels: 3, background: { r: 128, g: 128, b: 128 } } }).composite(cells).png().toFile(frame);
  const out = join(dir, 'masked-people.mp4');
  execFileSync(ffmpegPath(), ['-v', 'error', '-y', '-loop', '1', '-t', '3', '-i', frame, '-vf', 'fps=25', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', out]);
  return out;
}

async function api(service: RunningService, path: string, init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  headers.set('X-API-Key', KEY);
  const res = await fetch(service.url + path, { ...init, headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * Enrolls the most central face of each clean portrait. A photo the API refuses as face-less (the
 * detector's score under gallery.minConfidence) is left out, as an operator would; one must take.
 */
async function enroll(service: RunningService, name: string, files: string[]): Promise<void> {
  const created = await api(service, '/api/identities', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
  expect(created.status).toBe(201);
  let enrolled = 0;
  for (const file of files) {
    const bytes = readFileSync(file);
    const post = (query = '') =>
      api(service, `/api/identities/${created.body.id}/faces${query}`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: bytes });
    let res = await post();
    if (res.status === 422 && res.body.error === 'multiple_faces') {
      const faces = res.body.faces as { index: number; box: { x: number; y: number; width: number; height: number } }[];
      const off = (f: (typeof faces)[number]) => Math.hypot(f.box.x + f.box.width / 2 - 125, f.box.y + f.box.height / 2 - 125);
      res = await post(`?face=${faces.reduce((a, b) => (off(b) < off(a) ? b : a)).index}`);
    }
    if (res.status === 422 && res.body.error === 'no_face') continue;
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    enrolled++;
  }
  expect(enrolled, `photos of ${name} enrolled`).toBeGreaterThan(0);
}

async function waitFor(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(missing.length > 0)('occluded faces end to end', () => {
  let dir: string;
  let service: RunningService;
  let ws: WebSocket;
  const alerts: AlertMessage[] = [];
  const minFraction = 0.05;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'unmask-e2e-occlusion-'));
    const video = await makeVideo(dir);
    service = await startService(
      parseConfig({
        cameras: [{ name: 'door', url: video, loop: true, realtime: true, fps: 5, width: 1280, height: 720 }],
        // The default detector (faceplugin's boxes), which finds masked faces.
        match: { cooldownSec: 2 },
        gallery: { path: join(dir, 'gallery.db') },
        server: { port: 0, apiKey: KEY },
        ui: { enabled: false },
        occlusion: { model: OCCLUSION_MODEL, minFraction },
        inpaint: { model: INPAINT_MODEL, enabled: true },
        log: { level: 'warn' },
      }),
    );
    ws = new WebSocket(`${service.url.replace('http', 'ws')}/alerts?api_key=${KEY}`);
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data));
      if (msg.type === 'alert') alerts.push(msg);
    });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    for (const name of ON_CAMERA) await enroll(service, display(name), [lfw(name, 1), lfw(name, 2)]);
    for (const name of DISTRACTORS) await enroll(service, display(name), [lfw(name, 1)]);
  }, 180_000);

  afterAll(async () => {
    ws?.close();
    await service?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('names masked people on camera, nobody wrongly, each alert with its repair', async () => {
    const expected = ON_CAMERA.map(display);
    const named = () => new Set(alerts.filter((a) => a.identity).map((a) => a.identity!.name));
    // Every track gets its attempts within seconds; a minute lets the slow ones finish.
    await waitFor(() => named().size === expected.length, 60_000, () => 'everyone named').catch(() => {});
    const got = expected
      .map((person, cell) => {
        const here = alerts.filter((a) => cellOf(a.box) === cell && a.identity);
        return here.length ? `${person}: ${[...new Set(here.map((a) => `${a.identity!.name} ${a.score.toFixed(3)}`))].join(', ')}` : `${person}: not named`;
      })
      .join('; ');
    console.info(`e2e occlusion: ${named().size} of ${expected.length} masked people named (${alerts.length} alerts). ${got}`);
    for (const alert of alerts) {
      // The name is that of the person where the face is, or none.
      if (alert.identity) expect(alert.identity.name, `alert at ${JSON.stringify(alert.box)}`).toBe(expected[cellOf(alert.box)]);
      // Masked below the eyes: named from the upper face, and the alert says so.
      expect(alert.matchedOn).toBe('upper-face');
      // Every face wears a mask: the segmenter finds it and the generator repairs it.
      expect(alert.occludedFraction, `${alert.identity?.name}`).toBeGreaterThan(minFraction);
      expect(alert.inpaintedJpeg).toBeDefined();
      const inpainted = await sharp(Buffer.from(alert.inpaintedJpeg!, 'base64')).metadata();
      expect([inpainted.format, inpainted.width, inpainted.height]).toEqual(['jpeg', 128, 128]);
      const mask = await sharp(Buffer.from(alert.occlusionMaskPng!, 'base64')).metadata();
      expect([mask.format, mask.width, mask.height]).toEqual(['png', 128, 128]);
    }
    expect(named().size, got).toBeGreaterThanOrEqual(MIN_NAMED);
  }, 120_000);
});
