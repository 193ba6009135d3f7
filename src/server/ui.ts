// The operator's page on its own port: the static page (web/, bundled by esbuild in memory at start)
// and a pass-through of /api/* and the /alerts WebSocket to the API server.
//
// Why a proxy rather than CORS on the API: the page then talks to its own origin only, so it needs
// no API address (it works behind any host name or port mapping), the API keeps a single auth hook
// (a CORS preflight carries no key and would meet the 401 first), and the page's Content-Security-
// Policy can forbid every other origin. The proxy forwards bytes unchanged, key checks included.
import { readFile } from 'node:fs/promises';
import { createServer, request as httpRequest, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { build } from 'esbuild';
import { ALERTS_PATH } from '../alert/hub.ts';
import { ConfigError } from '../config.ts';
import { stageLogger } from '../observe/log.ts';
import { FORWARDED_CLIENT_HEADER, PROXY_SECRET, PROXY_SECRET_HEADER } from './auth.ts';

const log = stageLogger('ui');

export const WEB_DIR = join(import.meta.dirname, '../../web');

/** Everything the page loads comes from here; nothing from another origin (no fonts, no CDNs). */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "style-src 'self'",
  "script-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface UiServerOptions {
  host: string;
  port: number;
  /** Where the API server listens (as the UI server reaches it). */
  api: { host: string; port: number };
  webDir?: string;
}

export interface UiServer {
  /** http://host:port of the page. */
  url: string;
  close(): Promise<void>;
}

interface Asset {
  type: string;
  body: Buffer;
}

/** The page's files, with the TypeScript bundled into one script. */
export async function bundlePage(webDir = WEB_DIR): Promise<Map<string, Asset>> {
  const result = await build({
    entryPoints: [join(webDir, 'src/main.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    target: ['chrome109', 'firefox115', 'safari16'],
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  const [html, css] = await Promise.all([readFile(join(webDir, 'index.html')), readFile(join(webDir, 'style.css'))]);
  return new Map<string, Asset>([
    ['/', { type: 'text/html; charset=utf-8', body: html }],
    ['/app.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from(result.outputFiles[0].contents) }],
    ['/style.css', { type: 'text/css; charset=utf-8', body: css }],
  ]);
}

/** The address to reach a server listening on `host`: a wildcard address is reached on loopback. */
export function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

export function httpUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

const isProxied = (path: string) => path === ALERTS_PATH || path.startsWith('/api/');

function sendJson(res: ServerResponse, status: number, body: Record<string, string>): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

function apiUnreachable(err: Error): Record<string, string> {
  return { error: 'api_unreachable', message: `the UI server cannot reach the API server: ${err.message}` };
}

export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const assets = await bundlePage(options.webDir);
  const api = { host: reachableHost(options.api.host), port: options.api.port };

  // The browser's address goes with each request (the API's failed-key brake counts by it), with the
  // secret that makes the API believe it; whatever a client sent in these headers is replaced.
  const forwarding = (req: IncomingMessage) => ({ [FORWARDED_CLIENT_HEADER]: req.socket.remoteAddress ?? 'unknown', [PROXY_SECRET_HEADER]: PROXY_SECRET });

  const proxyRequest = (req: IncomingMessage, res: ServerResponse) => {
    const headers = { ...req.headers, ...forwarding(req) };
    const upstream = httpRequest({ host: api.host, port: api.port, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (err) => {
      if (res.headersSent) res.destroy(err);
      else sendJson(res, 502, apiUnreachable(err));
    });
    req.pipe(upstream);
  };

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (isProxied(path)) return proxyRequest(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return sendJson(res, 405, { error: 'method_not_allowed', message: `${req.method} is not served here: the page's files are read-only` });
    const asset = assets.get(path === '/index.html' ? '/' : path);
    if (!asset) return sendJson(res, 404, { error: 'not_found', message: `no page file at ${path}; the operator's page is at /` });
    res.writeHead(200, {
      'content-type': asset.type,
      'content-length': asset.body.length,
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  });

  // The WebSocket: the upgrade request goes to the API byte for byte, and so does everything after
  // it, so the API's answer (101, or 401 for a wrong key) reaches the browser unchanged.
  const upgraded = new Set<Duplex>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (err) => log.debug({ err }, 'page socket error'));
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== ALERTS_PATH) return rejectUpgrade(socket, 404, { error: 'not_found', message: `no WebSocket at ${path}: alerts are at ${ALERTS_PATH}` });
    const upstream = connect(api.port, api.host);
    let connected = false;
    upstream.on('connect', () => {
      connected = true;
      const headers: string[] = [];
      const replaced = new Set([FORWARDED_CLIENT_HEADER, PROXY_SECRET_HEADER]);
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        if (!replaced.has(req.rawHeaders[i].toLowerCase())) headers.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      for (const [name, value] of Object.entries(forwarding(req))) headers.push(`${name}: ${value}`);
      upstream.write(`${req.method} ${req.url} HTTP/${req.httpVersion}\r\n${headers.join('\r\n')}\r\n\r\n`);
      if (head.length) upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    upstream.on('error', (err) => {
      if (connected) socket.destroy();
      else rejectUpgrade(socket, 502, apiUnreachable(err));
    });
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new ConfigError(`${options.host}:${options.port} is already in use: choose another ui.port, or turn the page off with ui.enabled: false`)
          : err,
      );
    });
    server.listen(options.port, options.host, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = httpUrl(options.host, port);
  log.info({ url, api: httpUrl(api.host, api.port) }, "operator's page is served");

  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Open WebSockets and keep-alive connections would hold close() forever.
        server.closeAllConnections();
        for (const socket of upgraded) socket.destroy();
      }),
  };
}

function rejectUpgrade(socket: Duplex, status: number, body: Record<string, string>): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}
