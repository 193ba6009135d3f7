// Upload bombs (issue 19, failure 5): a 38 kB PNG that decodes to 39.6 Mpx, under gallery.maxImagePixels,
// sent 20 times at once to the service. Decoding shrunk (gallery.maxDecodedPixels) and a bounded number
// at once (enrollConcurrency, enrollQueue) must keep the peak resident memory within 1 GB of idle; the
// ones beyond the queue are told to come back (503, Retry-After).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeakRss, rssBytes } from './support/memory.ts';
import { startChildService, type ChildService } from './support/service.ts';

const KEY = 'fault-bombs-key-0123456789';
const BOMBS = 20;
const LIMIT_ABOVE_IDLE = 1024 ** 3;
const MB = (bytes: number) => Math.round(bytes / 1024 ** 2);

describe.skipIf(process.platform !== 'linux')('upload bombs', () => {
  let dir: string;
  let service: ChildService;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'unmask-bombs-'));
    service = await startChildService(
      { gallery: { path: join(dir, 'gallery.db') }, server: { port: 0 }, ui: { enabled: false }, events: { enabled: false }, detect: { workers: 1 }, log: { level: 'warn' } },
      { UNMASK_API_KEY: KEY },
    );
  });
  afterAll(async () => {
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`${BOMBS} decompression bombs at once stay within 1 GB of idle memory; those beyond the queue get 503 with Retry-After`, async () => {
    const bomb = await sharp({ create: { width: 6000, height: 6600, channels: 3, background: { r: 200, g: 180, b: 160 } } }).png({ palette: true, compressionLevel: 9 }).toBuffer();
    expect(bomb.length).toBeLessThan(100_000);
    const headers = { 'x-api-key': KEY, 'content-type': 'application/json' };
    const id = (await (await fetch(`${service.url}/api/identities`, { method: 'POST', headers, body: JSON.stringify({ name: 'Bomb' }) }).then((r) => r.json())) as { id: number }).id;

    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idle = rssBytes(service.pid);
    const peak = new PeakRss(service.pid);
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: BOMBS }, () =>
        fetch(`${service.url}/api/identities/${id}/faces`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'image/png' }, body: bomb }).then(
          async (r) => ({ status: r.status, retryAfter: r.headers.get('retry-after'), body: (await r.json()) as { error: string } }),
        ),
      ),
    );
    const seconds = (Date.now() - started) / 1000;
    const top = peak.peak();
    peak.stop();
    const byStatus: Record<string, number> = {};
    for (const a of answers) byStatus[`${a.status} ${a.body.error}`] = (byStatus[`${a.status} ${a.body.error}`] ?? 0) + 1;
    console.log(
      `bombs: ${BOMBS} × ${bomb.length} B PNG (6000×6600): idle ${MB(idle)} MiB, peak ${MB(top)} MiB, +${MB(top - idle)} MiB ` +
        `(kernel high-water mark ${peak.kernelReset ? 'reset' : 'not resettable: sampled'}), ${seconds.toFixed(1)} s; answers ${JSON.stringify(byStatus)}`,
    );

    expect(top - idle).toBeLessThanOrEqual(LIMIT_ABOVE_IDLE);
    // Admitted bombs are decoded (shrunk) and refused for what they are: no face. The rest: busy, come back.
    for (const a of answers) expect(['422 no_face', '503 busy']).toContain(`${a.status} ${a.body.error}`);
    const busy = answers.filter((a) => a.status === 503);
    expect(busy.length).toBeGreaterThan(0);
    for (const a of busy) expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    // The service is still there.
    expect((await fetch(`${service.url}/healthz`)).status).toBeLessThan(600);
  });
});
