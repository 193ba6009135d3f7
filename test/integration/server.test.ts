// The HTTP server and the /alerts hub on a real listening port, with real `ws` clients.
import type { AddressInfo, Socket } from 'node:net';
import type { FastifyPluginAsync } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { AlertHub, CLOSE_GOING_AWAY, CLOSE_SLOW_SUBSCRIBER } from '../../src/alert/hub.ts';
import { parseConfig } from '../../src/config.ts';
import { framesIn } from '../../src/observe/metrics.ts';
import { buildServer, type CameraHealth, type HealthSnapshot, type UnmaskServer } from '../../src/server/app.ts';
import { ALERT_SCHEMA, type AlertMessage } from '../../src/alert/message.ts';
import type { Identity } from '../../src/types.ts';

const API_KEY = 'test-key-0123456789';

interface Running {
  app: UnmaskServer;
  hub: AlertHub;
  base: string;
  setCameras(cameras: Record<string, CameraHealth>): void;
}

async function startServer(server: Record<string, unknown> = {}): Promise<Running> {
  const cameras = [
    { name: 'door', url: 'rtsp://door.invalid/stream' },
    { name: 'hall', url: 'rtsp://hall.invalid/stream' },
    { name: 'attic', url: 'rtsp://attic.invalid/stream', enabled: false },
  ];
  const config = parseConfig({ cameras, server });
  const hub = new AlertHub(config.server);
  let cameraHealth: Record<string, CameraHealth> = {};
  const health = (): HealthSnapshot => ({
    uptimeSec: 1,
    cameras: cameraHealth,
    subscribers: hub.subscriberCount,
    gallery: { identities: 0, samples: 0 },
  });
  const echoPlugin: FastifyPluginAsync = async (api) => {
    api.get('/api/echo', async () => ({ ok: true }));
  };
  const app = buildServer({ config, apiKey: API_KEY, health, hub, plugins: [echoPlugin] });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { app, hub, base: `127.0.0.1:${port}`, setCameras: (c) => (cameraHealth = c) };
}

/** A connected client that records every message (alert faces replaced by their length, to save memory). */
interface Client {
  ws: WebSocket;
  messages: Array<Record<string, unknown>>;
  alerts(): AlertMessage[];
  closed: Promise<{ code: number; reason: string }>;
}

const openClients: WebSocket[] = [];

function connect(base: string, query = '', headers: Record<string, string> = { 'x-api-key': API_KEY }): Promise<Client> {
  const ws = new WebSocket(`ws://${base}/alerts${query ? `?${query}` : ''}`, { headers });
  openClients.push(ws);
  const messages: Array<Record<string, unknown>> = [];
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as Record<string, unknown>;
    if (typeof message.faceJpeg === 'string') message.faceJpeg = message.faceJpeg.length;
    messages.push(message);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const client: Client = { ws, messages, closed, alerts: () => messages.filter((m) => m.type === 'alert') as unknown as AlertMessage[] };
  return new Promise((resolve, reject) => {
    ws.once('open', async () => {
      await waitFor(() => messages.some((m) => m.type === 'hello'), 'hello');
      resolve(client);
    });
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

/** The HTTP answer to an upgrade request that the server refuses. */
function refusedUpgrade(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    ws.once('error', reject);
  });
}

/** Resolves once everything the server sent before the pong has arrived (TCP keeps the order). */
function barrier(client: Client): Promise<void> {
  return new Promise((resolve) => {
    client.ws.once('pong', () => resolve());
    client.ws.ping();
  });
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function makeAlert(camera: string, identity: Identity | null, score: number, trackId: number, faceJpeg = 'AAAA'): AlertMessage {
  return {
    schema: ALERT_SCHEMA,
    type: 'alert',
    identity,
    known: identity !== null,
    score,
    camera,
    trackId,
    frameTime: new Date().toISOString(),
    sentTime: '',
    box: { x: 1, y: 2, width: 30, height: 40 },
    faceJpeg,
    votes: 3,
    matchedOn: 'face',
  };
}

const alice: Identity = { id: 1, name: 'Alice' };
const bob: Identity = { id: 2, name: 'Bob' };

const trackIds = (client: Client) => client.alerts().map((a) => a.trackId);

describe('server', () => {
  let server: Running;

  beforeAll(async () => {
    server = await startServer({ subscriberQueue: 8, subscriberMaxBufferedBytes: 256 * 1024 });
  });
  afterEach(() => {
    for (const ws of openClients.splice(0)) ws.terminate();
  });
  afterAll(async () => {
    await server.app.close();
  });

  describe('HTTP API key', () => {
    it('refuses a request without a key or with a wrong one with 401 JSON', async () => {
      const missing = await fetch(`http://${server.base}/api/echo`);
      expect(missing.status).toBe(401);
      expect(await missing.json()).toEqual({ error: 'unauthorized', message: expect.stringContaining('missing API key') });

      const wrong = await fetch(`http://${server.base}/api/echo`, { headers: { 'X-API-Key': 'not-the-key' } });
      expect(wrong.status).toBe(401);
      expect(await wrong.json()).toEqual({ error: 'unauthorized', message: 'invalid API key' });

      const basic = await fetch(`http://${server.base}/api/echo`, { headers: { Authorization: `Basic ${API_KEY}` } });
      expect(basic.status).toBe(401);
      expect((await basic.json()).message).toContain('Bearer');
    });

    it('accepts the key as X-API-Key, as a bearer token and as api_key in the query', async () => {
      for (const [path, headers] of [
        ['/api/echo', { 'X-API-Key': API_KEY }],
        ['/api/echo', { Authorization: `Bearer ${API_KEY}` }],
        [`/api/echo?api_key=${API_KEY}`, {}],
      ] as const) {
        const response = await fetch(`http://${server.base}${path}`, { headers });
        expect(response.status, `${path} ${JSON.stringify(headers)}`).toBe(200);
        expect(await response.json()).toEqual({ ok: true });
      }
    });

    it('protects unknown paths too: 401 without the key, 404 with it', async () => {
      expect((await fetch(`http://${server.base}/api/nothing`)).status).toBe(401);
      expect((await fetch(`http://${server.base}/api/nothing`, { headers: { 'X-API-Key': API_KEY } })).status).toBe(404);
    });
  });

  describe('health and metrics (no key needed)', () => {
    it('/healthz is 200 when every enabled camera is live and 503 when one is not', async () => {
      const live: CameraHealth = { state: 'live', since: new Date().toISOString(), restarts: 0, framesIn: 10, framesDropped: 0 };
      const stopped: CameraHealth = { ...live, state: 'stopped' };
      const healthz = async (headers: Record<string, string> = {}) => {
        const response = await fetch(`http://${server.base}/healthz`, { headers });
        return { status: response.status, body: await response.json() };
      };

      // The disabled camera does not count.
      server.setCameras({ door: live, hall: live, attic: stopped });
      expect(await healthz()).toMatchObject({ status: 200, body: { status: 'ok', subscribers: 0, cameras: { door: { state: 'live' } } } });

      server.setCameras({ door: live, hall: { ...live, state: 'retrying', lastError: 'ffmpeg exited with code 1', restarts: 2 } });
      // A camera's last error needs the key (issue 19: it can name hosts and paths); states and counts do not.
      expect(await healthz({ 'X-API-Key': API_KEY })).toMatchObject({
        status: 503,
        body: { status: 'degraded', cameras: { hall: { state: 'retrying', lastError: 'ffmpeg exited with code 1' } } },
      });
      const anonymous = await healthz();
      expect(anonymous).toMatchObject({ status: 503, body: { status: 'degraded', cameras: { hall: { state: 'retrying', restarts: 2 } } } });
      expect(anonymous.body.cameras.hall).not.toHaveProperty('lastError');

      // An enabled camera that the report leaves out is not live either.
      server.setCameras({ door: live });
      expect(await healthz()).toMatchObject({ status: 503, body: { status: 'degraded' } });
    });

    it('/metrics serves the Prometheus text with the frame counters and the subscriber gauge', async () => {
      framesIn.inc({ camera: 'door' });
      const response = await fetch(`http://${server.base}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain');
      const text = await response.text();
      expect(text).toMatch(/^unmask_frames_in_total\{camera="door"\} \d+$/m);
      expect(text).toContain('# TYPE unmask_subscribers gauge');
    });

    it('a plain GET of /alerts (with the key) says to upgrade', async () => {
      const response = await fetch(`http://${server.base}/alerts`, { headers: { 'X-API-Key': API_KEY } });
      expect(response.status).toBe(426);
      expect((await response.json()).error).toBe('upgrade_required');
    });
  });

  describe('WebSocket upgrade', () => {
    it('refuses an upgrade without a key or with a wrong one with an HTTP 401', async () => {
      const missing = await refusedUpgrade(`ws://${server.base}/alerts`);
      expect(missing).toEqual({ status: 401, body: { error: 'unauthorized', message: expect.stringContaining('missing API key') } });
      const wrong = await refusedUpgrade(`ws://${server.base}/alerts?api_key=wrong-key-123`);
      expect(wrong).toEqual({ status: 401, body: { error: 'unauthorized', message: 'invalid API key' } });
      expect(server.hub.subscriberCount).toBe(0);
    });

    it('accepts the key in a header, as a bearer token and in the query, and says hello with the filter', async () => {
      const byHeader = await connect(server.base, 'cameras=door');
      const byBearer = await connect(server.base, '', { Authorization: `Bearer ${API_KEY}` });
      const byQuery = await connect(server.base, `api_key=${API_KEY}&unknown=true`, {});
      expect(server.hub.subscriberCount).toBe(3);
      expect(byHeader.messages[0]).toEqual({
        type: 'hello',
        schema: ALERT_SCHEMA,
        filter: { cameras: ['door'], identities: null, includeUnknown: false, minScore: null },
      });
      expect(byBearer.messages[0]).toMatchObject({ type: 'hello' });
      expect(byQuery.messages[0]).toMatchObject({ type: 'hello', filter: { includeUnknown: true } });

      byHeader.ws.close();
      await byHeader.closed;
      await waitFor(() => server.hub.subscriberCount === 2, 'the subscriber count to drop');
    });

    it('answers 404 for another path and 400 naming the field for a bad filter', async () => {
      const elsewhere = await refusedUpgrade(`ws://${server.base}/other`, { 'X-API-Key': API_KEY });
      expect(elsewhere.status).toBe(404);
      const badFilter = await refusedUpgrade(`ws://${server.base}/alerts?minScore=high`, { 'X-API-Key': API_KEY });
      expect(badFilter.status).toBe(400);
      expect(badFilter.body.message).toContain('minScore: expected a number between -1 and 1');
    });
  });

  describe('alerts', () => {
    it('delivers each alert to the subscribers whose filter matches, with sentTime set at send', async () => {
      const everyone = await connect(server.base);
      const door = await connect(server.base, 'cameras=door&unknown=true');
      const bobOnly = await connect(server.base, 'identities=Bob');
      const aliceById = await connect(server.base, 'identities=1&unknown=true');
      const confident = await connect(server.base, 'minScore=0.95');

      const before = Date.now();
      server.hub.publish(makeAlert('door', alice, 0.97, 1));
      server.hub.publish(makeAlert('hall', bob, 0.94, 2));
      server.hub.publish(makeAlert('door', null, 0.3, 3));
      server.hub.publish(makeAlert('hall', alice, 0.93, 4));
      await Promise.all([everyone, door, bobOnly, aliceById, confident].map(barrier));

      expect(trackIds(everyone)).toEqual([1, 2, 4]);
      expect(trackIds(door)).toEqual([1, 3]);
      expect(trackIds(bobOnly)).toEqual([2]);
      expect(trackIds(aliceById)).toEqual([1, 3, 4]);
      expect(trackIds(confident)).toEqual([1]);

      const first = everyone.alerts()[0];
      expect(first).toMatchObject({ schema: ALERT_SCHEMA, type: 'alert', identity: alice, camera: 'door', score: 0.97, faceJpeg: 4 });
      expect(Date.parse(first.sentTime)).toBeGreaterThanOrEqual(before - 1);
    });

    it('a subscribe message replaces the filter; a bad message gets an error and no disconnect', async () => {
      const client = await connect(server.base, 'cameras=door');
      client.ws.send('{not json');
      client.ws.send(JSON.stringify({ type: 'subscribe', minScore: 'high' }));
      client.ws.send(JSON.stringify({ type: 'subscribe', cameras: ['hall'], identities: ['Bob'] }));
      await waitFor(() => client.messages.some((m) => m.type === 'subscribed'), 'the subscribed reply');

      const [notJson, badField, subscribed] = client.messages.slice(1);
      expect(notJson).toMatchObject({ type: 'error', message: expect.stringContaining('message is not JSON') });
      expect(badField).toMatchObject({ type: 'error', message: expect.stringContaining('minScore: expected a number') });
      expect(subscribed).toEqual({ type: 'subscribed', filter: { cameras: ['hall'], identities: ['Bob'], includeUnknown: false, minScore: null } });
      expect(client.ws.readyState).toBe(WebSocket.OPEN);

      server.hub.publish(makeAlert('door', alice, 0.97, 10));
      server.hub.publish(makeAlert('hall', alice, 0.97, 11));
      server.hub.publish(makeAlert('hall', bob, 0.97, 12));
      await barrier(client);
      expect(trackIds(client)).toEqual([12]);
    });

    it('a subscriber that reconnects with after=<id> is sent what it missed, then the live alerts, none twice', async () => {
      const first = await connect(server.base, 'cameras=replaycam');
      server.hub.publish(makeAlert('replaycam', alice, 0.97, 20));
      server.hub.publish(makeAlert('replaycam', bob, 0.96, 21));
      await barrier(first);
      const ids = first.alerts().map((a) => a.id);
      expect(new Set(ids).size).toBe(2);
      first.ws.close();
      await first.closed;

      server.hub.publish(makeAlert('replaycam', alice, 0.95, 22));
      server.hub.publish(makeAlert('othercam', alice, 0.95, 23));
      server.hub.publish(makeAlert('replaycam', bob, 0.94, 24));
      const again = await connect(server.base, `cameras=replaycam&after=${encodeURIComponent(ids[1]!)}`);
      server.hub.publish(makeAlert('replaycam', alice, 0.93, 25));
      await barrier(again);

      expect(again.messages[1]).toEqual({ type: 'replay', after: ids[1], replayed: 2, complete: true });
      expect(trackIds(again)).toEqual([22, 24, 25]);
      expect(new Set(again.alerts().map((a) => a.id)).size).toBe(3);
    });

    it('says what it could not replay: an id it does not keep, and more missed than the queue takes', async () => {
      const stranger = await connect(server.base, 'after=not-an-id');
      await barrier(stranger);
      expect(stranger.messages[1]).toMatchObject({ type: 'replay', after: 'not-an-id', replayed: 0, complete: false });
      expect(stranger.messages[1]!.message).toContain('GET /api/events');

      const watcher = await connect(server.base, 'cameras=burstcam');
      server.hub.publish(makeAlert('burstcam', alice, 0.97, 30));
      await barrier(watcher);
      const last = watcher.alerts()[0]!.id!;
      for (let track = 31; track <= 40; track++) server.hub.publish(makeAlert('burstcam', alice, 0.97, track));
      // subscriberQueue is 8 here: the hello, the replay message and the 6 newest alerts.
      const behind = await connect(server.base, `cameras=burstcam&after=${encodeURIComponent(last)}`);
      await waitFor(() => behind.alerts().length === 6, 'six replayed alerts');
      expect(behind.messages[1]).toMatchObject({ type: 'replay', replayed: 6, complete: false });
      expect(behind.messages[1]!.message).toContain('4 oldest');
      expect(trackIds(behind)).toEqual([35, 36, 37, 38, 39, 40]);
      expect(behind.ws.readyState).toBe(WebSocket.OPEN);
    });

    it('replays alerts it was given to remember (a restarted gateway\'s, from the events stream) without sending them', async () => {
      const watcher = await connect(server.base, 'cameras=recallcam');
      server.hub.remember(makeAlert('recallcam', alice, 0.9, 50), '1700000000000-0');
      server.hub.remember(makeAlert('recallcam', bob, 0.9, 51), '1700000000000-1');
      const back = await connect(server.base, 'cameras=recallcam&after=1700000000000-0');
      await barrier(back);
      await barrier(watcher);
      expect(watcher.alerts()).toEqual([]);
      expect(back.messages[1]).toMatchObject({ type: 'replay', replayed: 1, complete: true });
      expect(back.alerts().map((a) => [a.trackId, a.id])).toEqual([[51, '1700000000000-1']]);
    });

    it('refuses an empty or overlong after with 400', async () => {
      for (const after of ['', 'x'.repeat(65)]) {
        const { status, body } = await refusedUpgrade(`ws://${server.base}/alerts?after=${after}`, { 'x-api-key': API_KEY });
        expect(status).toBe(400);
        expect(body.message).toContain('after:');
      }
    });

    it('closes a slow subscriber with 4008 while another receives every alert', async () => {
      const slow = await connect(server.base, 'cameras=slowcam');
      const normal = await connect(server.base, 'cameras=slowcam');
      const subscribersBefore = server.hub.subscriberCount;
      (slow.ws as unknown as { _socket: Socket })._socket.pause();

      // ~100 kB faces; each is published once the normal subscriber has the previous one, so only
      // the paused one falls behind (client and server share this process's event loop).
      const face = 'A'.repeat(100 * 1024);
      let published = 0;
      let extraAfterDrop = 5;
      while (extraAfterDrop > 0) {
        server.hub.publish(makeAlert('slowcam', alice, 0.97, published++, face));
        await waitFor(() => normal.alerts().length === published, `alert ${published} at the normal subscriber`);
        if (server.hub.subscriberCount < subscribersBefore) extraAfterDrop--;
        if (published > 2000) throw new Error('the paused subscriber was never closed');
      }

      (slow.ws as unknown as { _socket: Socket })._socket.resume();
      expect(await slow.closed).toEqual({ code: CLOSE_SLOW_SUBSCRIBER, reason: 'slow subscriber: queue overflow' });
      expect(slow.alerts().length).toBeLessThan(published - 5);
      expect(trackIds(normal)).toEqual(Array.from({ length: published }, (_, i) => i));
      expect(normal.ws.readyState).toBe(WebSocket.OPEN);
    });
  });
});

describe('server lifecycle', () => {
  afterEach(() => {
    for (const ws of openClients.splice(0)) ws.terminate();
  });

  it('drops a subscriber that stops answering pings', async () => {
    const server = await startServer({ heartbeatSec: 0.1 });
    try {
      const dead = await connect(server.base);
      const alive = await connect(server.base);
      (dead.ws as unknown as { _socket: Socket })._socket.pause();
      await waitFor(() => server.hub.subscriberCount === 1, 'the silent subscriber to be dropped', 2000);
      (dead.ws as unknown as { _socket: Socket })._socket.resume();
      expect((await dead.closed).code).toBe(1006);
      expect(alive.ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      await server.app.close();
    }
  });

  it('closing the server closes subscribers with 1001', async () => {
    const server = await startServer();
    const client = await connect(server.base);
    const closing = server.app.close();
    expect(await client.closed).toEqual({ code: CLOSE_GOING_AWAY, reason: 'server shutting down' });
    await closing;
    expect(server.hub.subscriberCount).toBe(0);
  });
});
