// The server's hardening (issue 19) on a real listening port: the failed-key brake (HTTP and
// WebSocket share it, per client address), the page's forwarded address, the Origin allow-list and the
// subscriber limit.
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { AlertHub, CLOSE_TOO_MANY_SUBSCRIBERS } from '../../src/alert/hub.ts';
import { parseConfig } from '../../src/config.ts';
import { buildServer, type UnmaskServer } from '../../src/server/app.ts';
import { FORWARDED_CLIENT_HEADER, PROXY_SECRET, PROXY_SECRET_HEADER } from '../../src/server/auth.ts';

const API_KEY = 'hardening-key-0123456789';

async function start(server: Record<string, unknown> = {}): Promise<{ app: UnmaskServer; hub: AlertHub; port: number }> {
  const config = parseConfig({ server });
  const hub = new AlertHub(config.server);
  const app = buildServer({ config, apiKey: API_KEY, health: () => ({ uptimeSec: 0, cameras: {}, subscribers: 0, gallery: { identities: 0, samples: 0 } }), hub });
  app.get('/api/echo', async () => ({ ok: true }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, hub, port: (app.server.address() as AddressInfo).port };
}

/** A GET from a chosen loopback source address (127.0.0.2 is another client). */
function get(port: number, path: string, headers: Record<string, string> = {}, localAddress = '127.0.0.1'): Promise<{ status: number; headers: Record<string, unknown>; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers, localAddress }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text || '{}') }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The answer to a WebSocket upgrade: 'open' (then closed by us), or the refusal's status, or the close code. */
function upgrade(port: number, headers: Record<string, string>, query = ''): Promise<{ status?: number; body?: Record<string, unknown>; retryAfter?: string; open?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/alerts${query}`, { headers });
    ws.once('open', () => resolve({ open: ws }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text), retryAfter: res.headers['retry-after'] as string | undefined }));
    });
    ws.once('error', reject);
  });
}

const running: { app: UnmaskServer }[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const r of running.splice(0)) await r.app.close();
});

describe('failed-key brake', () => {
  it('after maxFailedAuth wrong keys an address gets 429 with Retry-After, even with the right key; another address does not; a metric counts it', async () => {
    const server = await start({ maxFailedAuth: 5, failedAuthWindowSec: 30 });
    running.push(server);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await get(server.port, '/api/echo', { 'x-api-key': `wrong-${i}` })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);

    const braked = await get(server.port, '/api/echo', { 'x-api-key': API_KEY });
    expect(braked.status).toBe(429);
    expect(Number(braked.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(braked.headers['retry-after'])).toBeLessThanOrEqual(30);
    expect(braked.body).toMatchObject({ error: 'too_many_failed_keys', message: expect.stringMatching(/too many wrong or missing API keys from 127\.0\.0\.1: 5 within 30 s \(server\.maxFailedAuth\)/) });
    // The WebSocket upgrade shares the count.
    const socket = await upgrade(server.port, { 'x-api-key': API_KEY });
    expect(socket).toMatchObject({ status: 429, body: { error: 'too_many_failed_keys' } });
    expect(Number(socket.retryAfter)).toBeGreaterThan(0);

    // Another client address is not braked; probes stay public.
    expect((await get(server.port, '/api/echo', { 'x-api-key': API_KEY }, '127.0.0.2')).status).toBe(200);
    expect((await get(server.port, '/healthz')).status).toBe(200);
    const metrics = await fetch(`http://127.0.0.1:${server.port}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/^unmask_auth_failures_total\{result="refused"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^unmask_auth_failures_total\{result="throttled"\} [1-9]\d*$/m);
  });

  it("counts the browser's address forwarded by the operator's page, never a forwarded address without the page's secret", async () => {
    const server = await start({ maxFailedAuth: 2 });
    running.push(server);
    const spoofed = { 'x-api-key': 'wrong', [FORWARDED_CLIENT_HEADER]: '203.0.113.9' };
    expect((await get(server.port, '/api/echo', spoofed)).status).toBe(401);
    expect((await get(server.port, '/api/echo', spoofed)).status).toBe(401);
    // Counted against the real address (the spoofed header was ignored): braked now.
    expect((await get(server.port, '/api/echo', { 'x-api-key': API_KEY })).status).toBe(429);
    // Through the page: the forwarded browser address counts, each its own.
    const viaPage = (browser: string, key: string) => get(server.port, '/api/echo', { 'x-api-key': key, [FORWARDED_CLIENT_HEADER]: browser, [PROXY_SECRET_HEADER]: PROXY_SECRET }, '127.0.0.2');
    expect((await viaPage('198.51.100.1', 'wrong')).status).toBe(401);
    expect((await viaPage('198.51.100.1', 'wrong')).status).toBe(401);
    expect((await viaPage('198.51.100.1', API_KEY)).status).toBe(429);
    expect((await viaPage('198.51.100.2', API_KEY)).status).toBe(200);
  });
});

describe('WebSocket origin and subscriber limit', () => {
  it("accepts the page's own origin, listed origins and clients without an Origin; refuses other browser origins with 403", async () => {
    const server = await start({ allowedOrigins: ['https://ops.example.com'] });
    running.push(server);
    const host = `127.0.0.1:${server.port}`;
    for (const headers of [{}, { origin: `http://${host}` }, { origin: 'https://ops.example.com' }] as Record<string, string>[]) {
      const answer = await upgrade(server.port, { 'x-api-key': API_KEY, ...headers });
      expect(answer.open, JSON.stringify(headers)).toBeInstanceOf(WebSocket);
      sockets.push(answer.open!);
    }
    const foreign = await upgrade(server.port, { 'x-api-key': API_KEY, origin: 'https://evil.example' });
    expect(foreign).toMatchObject({ status: 403, body: { error: 'origin_not_allowed', message: expect.stringContaining('https://evil.example') } });
    // Another port of the same host is another origin.
    expect((await upgrade(server.port, { 'x-api-key': API_KEY, origin: `http://127.0.0.1:${server.port + 1}` })).status).toBe(403);
  });

  it('closes the subscriber past server.maxSubscribers with 1013 and a reason, and takes one again when a place is free', async () => {
    const server = await start({ maxSubscribers: 2 });
    running.push(server);
    const first = (await upgrade(server.port, { 'x-api-key': API_KEY })).open!;
    const second = (await upgrade(server.port, { 'x-api-key': API_KEY })).open!;
    sockets.push(first, second);
    const third = (await upgrade(server.port, { 'x-api-key': API_KEY })).open!;
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => third.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    expect(closed).toEqual({ code: CLOSE_TOO_MANY_SUBSCRIBERS, reason: 'too many subscribers: server.maxSubscribers is 2; try again later' });
    expect(server.hub.subscriberCount).toBe(2);
    first.close();
    await new Promise((resolve) => first.once('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const fourth = await upgrade(server.port, { 'x-api-key': API_KEY });
    sockets.push(fourth.open!);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fourth.open!.readyState).toBe(WebSocket.OPEN);
    expect(server.hub.subscriberCount).toBe(2);
  });
});
