// API-key authentication, shared by the HTTP routes and the /alerts WebSocket upgrade, and the
// client address the failed-key brake counts by.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/**
 * The operator's page reaches the API through its own server (ui.ts), so every page request comes from
 * that server's address. It passes on the browser's address in this header, with a secret of this
 * process beside it: only a request that carries the secret (one the page's server forwarded) is taken
 * at its word. Both servers run in one process.
 */
export const FORWARDED_CLIENT_HEADER = 'x-unmask-client';
export const PROXY_SECRET_HEADER = 'x-unmask-proxy';
export const PROXY_SECRET = randomBytes(24).toString('base64url');

/** Where a client may put the key, in the order they are looked at. */
export const KEY_LOCATIONS = 'header "X-API-Key: <key>", header "Authorization: Bearer <key>" or query parameter "api_key=<key>"';

export type AuthResult = { ok: true } | { ok: false; message: string };

/** The 401 body, for HTTP responses and rejected upgrades alike. */
export function unauthorizedBody(message: string): { error: 'unauthorized'; message: string } {
  return { error: 'unauthorized', message };
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The key the request presents, or an error when the Authorization header is malformed. */
function presentedKey(headers: IncomingHttpHeaders, url: string | undefined): { key?: string; error?: string } {
  const headerKey = firstValue(headers['x-api-key']);
  if (headerKey !== undefined) return { key: headerKey };
  const authorization = firstValue(headers.authorization);
  if (authorization !== undefined) {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!bearer) return { error: 'the Authorization header must be "Bearer <key>"' };
    return { key: bearer[1] };
  }
  const queryKey = new URL(url ?? '/', 'http://localhost').searchParams.get('api_key');
  return queryKey === null ? {} : { key: queryKey };
}

// Hashing both sides gives equal-length inputs, so neither the content nor the length of the
// expected key leaks through the comparison time.
function sameKey(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The address a request comes from: the browser's when the page's server forwarded it, else the socket's. */
export function clientAddressOf(request: Pick<IncomingMessage, 'headers' | 'socket'>): string {
  const secret = firstValue(request.headers[PROXY_SECRET_HEADER]);
  const forwarded = firstValue(request.headers[FORWARDED_CLIENT_HEADER]);
  if (secret !== undefined && forwarded && sameKey(secret, PROXY_SECRET)) return forwarded;
  return request.socket.remoteAddress ?? 'unknown';
}

/** Checks the key of a request (HTTP or upgrade) against the key in force. */
export function authorize(request: { headers: IncomingHttpHeaders; url?: string }, apiKey: string): AuthResult {
  const { key, error } = presentedKey(request.headers, request.url);
  if (error) return { ok: false, message: error };
  if (key === undefined || key === '') return { ok: false, message: `missing API key: send it as ${KEY_LOCATIONS}` };
  if (!sameKey(key, apiKey)) return { ok: false, message: 'invalid API key' };
  return { ok: true };
}
