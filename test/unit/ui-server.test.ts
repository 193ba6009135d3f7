// The UI server: the bundled page with its security headers, and a faithful pass-through of
// /api/* and the /alerts WebSocket to the API (refusals included), with a clear 502 when the API is down.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { ConfigError } from '../../src/config.ts';
import { reachableHost, startUiServer, type UiServer } from '../../src/server/ui.ts';

const KEY = 'unit-test-key';

/** A stand-in API: echoes HTTP requests as JSON; /alerts accepts the key and echoes messages. */
function fakeApi(): Promise<Server> {
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = req.headers['x-api-key'] === KEY ? 200 : 401;
      res.writeHead(status, { 'content-type': 'application/json', 'x-upstream': 'yes' });
      res.end(JSON.stringify({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString() }));
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket, head) => {
    if (new URL(req.url!, 'http://x').searchParams.get('api_key') !== KEY) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data) => ws.send(`echo ${String(data)}`)));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const portOf = (server: Server) => (server.address() as AddressInfo).port;

function upgrade(url: string): Promise<{ status: number; ws?: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
    ws.on('open', () => resolve({ status: 101, ws }));
    ws.on('error', () => undefined);
  });
}

describe('UI server', () => {
  let api: Server;
  let ui: UiServer;

  beforeEach(async () => {
    api = await fakeApi();
    ui = await startUiServer({ host: '127.0.0.1', port: 0, api: { host: '0.0.0.0', port: portOf(api) } });
  });
  afterEach(async () => {
    await ui.close();
    api.closeAllConnections();
    await new Promise((resolve) => api.close(resolve));
  });

  it('serves the page, its bundled script and style, with a policy that forbids other origins', async () => {
    const page = await fetch(`${ui.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(await page.text()).toContain('<script type="module" src="/app.js">');
    const script = await fetch(`${ui.url}/app.js`);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await script.text()).toContain('unmask.apiKey');
    expect((await fetch(`${ui.url}/style.css`)).headers.get('content-type')).toMatch(/^text\/css/);
    const missing = await fetch(`${ui.url}/secrets.txt`);
    expect(missing.status).toBe(404);
    expect((await missing.json()).message).toMatch(/no page file at \/secrets.txt/);
  });

  it('passes /api/* through unchanged, key, body, status and headers', async () => {
    const ok = await fetch(`${ui.url}/api/identities/3/faces?face=1`, { method: 'POST', headers: { 'x-api-key': KEY }, body: 'photo-bytes' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-upstream')).toBe('yes');
    expect(await ok.json()).toEqual({ method: 'POST', url: '/api/identities/3/faces?face=1', body: 'photo-bytes' });
    expect((await fetch(`${ui.url}/api/cameras`, { headers: { 'x-api-key': 'wrong' } })).status).toBe(401);
  });

  it('passes the /alerts WebSocket through, and the API refusal of a wrong key', async () => {
    const good = await upgrade(`${ui.url.replace('http', 'ws')}/alerts?api_key=${KEY}`);
    expect(good.status).toBe(101);
    const reply = new Promise<string>((resolve) => good.ws!.once('message', (data) => resolve(String(data))));
    good.ws!.send('hello');
    expect(await reply).toBe('echo hello');
    good.ws!.close();
    expect((await upgrade(`${ui.url.replace('http', 'ws')}/alerts?api_key=wrong`)).status).toBe(401);
    expect((await upgrade(`${ui.url.replace('http', 'ws')}/elsewhere`)).status).toBe(404);
  });

  it('answers 502 with the reason when the API is down', async () => {
    api.closeAllConnections();
    await new Promise((resolve) => api.close(resolve));
    const res = await fetch(`${ui.url}/api/cameras`, { headers: { 'x-api-key': KEY } });
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({ error: 'api_unreachable', message: expect.stringMatching(/^the UI server cannot reach the API server: .*ECONNREFUSED/) });
    expect((await upgrade(`${ui.url.replace('http', 'ws')}/alerts?api_key=${KEY}`)).status).toBe(502);
  });

  it('says which setting to change when its port is taken', async () => {
    const port = Number(new URL(ui.url).port);
    const second = startUiServer({ host: '127.0.0.1', port, api: { host: '127.0.0.1', port: portOf(api) } });
    await expect(second).rejects.toThrow(ConfigError);
    await expect(second).rejects.toThrow(/127\.0\.0\.1:\d+ is already in use: choose another ui\.port/);
  });
});

describe('reachableHost', () => {
  it('reaches a wildcard listener on loopback, and anything else as is', () => {
    expect(reachableHost('0.0.0.0')).toBe('127.0.0.1');
    expect(reachableHost('::')).toBe('::1');
    expect(reachableHost('10.0.0.5')).toBe('10.0.0.5');
  });
});
