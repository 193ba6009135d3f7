// No secret in public places (issue 19, failures 1 and 2): a camera whose URL carries a password, and
// requests that pass the API key in the query. Neither the password nor the key may appear in anything
// the service logs (at debug level, where ffmpeg's command line is logged too), nor in /healthz or
// /api/cameras; /healthz without the key shows states and counts only.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildService, type ChildService } from './support/service.ts';

const KEY = 'fault-redaction-key-0123456789';
const PASSWORD = 's3cret-camera-password';

/** A loopback port nobody listens on: the camera's connection is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('secrets stay out of logs and public endpoints', () => {
  let dir: string;
  let service: ChildService;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'unmask-redaction-'));
    const port = await closedPort();
    service = await startChildService(
      {
        cameras: [{ name: 'door', url: `rtsp://admin:${PASSWORD}@127.0.0.1:${port}/x` }],
        source: { backoffInitialMs: 200, backoffMaxMs: 400, stallTimeoutSec: 2 },
        gallery: { path: join(dir, 'gallery.db') },
        server: { port: 0 },
        ui: { enabled: false },
        detect: { workers: 1 },
        log: { level: 'debug' },
      },
      { UNMASK_API_KEY: KEY, UNMASK_LOG_LEVEL: 'debug' },
    );
  });
  afterAll(async () => {
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the camera password and the API key appear in no log line, no /healthz and no /api/cameras', async () => {
    // Let the camera fail a few times, and use the key in the query as the page's WebSocket does.
    const deadline = Date.now() + 20_000;
    let health: { cameras: Record<string, { state: string; restarts: number; lastError?: string }> };
    do {
      await new Promise((resolve) => setTimeout(resolve, 300));
      health = await (await fetch(`${service.url}/healthz?api_key=${KEY}`)).json();
    } while (health.cameras.door.restarts < 2 && Date.now() < deadline);
    expect(health.cameras.door.restarts).toBeGreaterThanOrEqual(2);
    const withKey = health.cameras.door.lastError ?? '';
    expect(withKey).toMatch(/rtsp:\/\/\*\*\*@127\.0\.0\.1:\d+\/x/);

    const publicHealth = await (await fetch(`${service.url}/healthz`)).text();
    const cameras = await (await fetch(`${service.url}/api/cameras?api_key=${KEY}`)).text();
    for (const path of ['/api/identities', '/api/events?limit=1', '/api/cameras']) expect((await fetch(`${service.url}${path}${path.includes('?') ? '&' : '?'}api_key=${KEY}`)).status).toBe(200);
    expect((await fetch(`${service.url}/api/identities?api_key=a-wrong-guess-0000`)).status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 500));

    const logs = service.output();

    // The logs are there to be searched: requests, the camera's failures, ffmpeg's command line.
    expect(logs).toMatch(/"url":"\/api\/identities"/);
    expect(logs).toMatch(/"url":"\/api\/events\?limit=1"/);
    expect(logs).toContain('ffmpeg started');
    expect(logs).toContain('rtsp://***@127.0.0.1');
    for (const [where, text] of [['logs', logs], ['/healthz', publicHealth], ['/api/cameras', cameras], ['/healthz with the key', JSON.stringify(health)]] as const) {
      expect(text.includes(PASSWORD), `the camera password in ${where}`).toBe(false);
      expect(text.includes(KEY), `the API key in ${where}`).toBe(false);
      expect(text.includes('a-wrong-guess-0000'), `a guessed key in ${where}`).toBe(false);
    }
    expect(JSON.parse(cameras).cameras[0].lastError).toMatch(/rtsp:\/\/\*\*\*@/);
    // Without the key: states and counts, no error text.
    const anonymous = JSON.parse(publicHealth) as { cameras: { door: Record<string, unknown> } };
    expect(anonymous.cameras.door).toMatchObject({ state: expect.any(String), restarts: expect.any(Number) });
    expect(anonymous.cameras.door).not.toHaveProperty('lastError');
  });
});
