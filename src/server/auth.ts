// API-key authentication, shared by the HTTP routes and the /alerts WebSocket upgrade.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

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

/** Checks the key of a request (HTTP or upgrade) against the key in force. */
export function authorize(request: { headers: IncomingHttpHeaders; url?: string }, apiKey: string): AuthResult {
  const { key, error } = presentedKey(request.headers, request.url);
  if (error) return { ok: false, message: error };
  if (key === undefined || key === '') return { ok: false, message: `missing API key: send it as ${KEY_LOCATIONS}` };
  if (!sameKey(key, apiKey)) return { ok: false, message: 'invalid API key' };
  return { ok: true };
}
