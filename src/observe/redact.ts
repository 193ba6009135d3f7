// Secrets out of everything the service prints, logs, stores or serves: the credentials of a URL
// (rtsp://admin:s3cret@cam/… → rtsp://***@cam/…), secret-looking query parameters (api_key, password,
// token…), wherever they appear in a text. Pure functions: the log stream, the camera's last error and
// the request serializer all go through them.

/** Shown instead of a secret. */
export const REDACTED = '***';

// scheme://userinfo@ — userinfo runs to the first "@" before the host, without spaces, quotes or slashes.
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi;
/** Query parameters whose value is a secret (camera URLs carry user=…&pwd=…, requests api_key=…). */
const SECRET_PARAM = /([?&;](?:api[_-]?key|apikey|key|token|access_token|auth|password|passwd|pass|pwd|secret|signature|sig|user|username|usr)=)[^&;#\s"'<>]*/gi;

/** The text with every URL's credentials and secret query values replaced by ***. */
export function redactSecrets(text: string): string {
  if (!text.includes('://') && !text.includes('=')) return text;
  return text.replace(URL_CREDENTIALS, `$1${REDACTED}@`).replace(SECRET_PARAM, `$1${REDACTED}`);
}

/** A request path with its api_key parameter removed (the rest kept, secrets among them redacted): for request logs. */
export function withoutApiKey(url: string): string {
  const queryAt = url.indexOf('?');
  if (queryAt < 0) return url;
  const kept = url
    .slice(queryAt + 1)
    .split('&')
    .filter((pair) => pair && !/^api[_-]?key(=|$)/i.test(pair));
  return redactSecrets(kept.length ? `${url.slice(0, queryAt)}?${kept.join('&')}` : url.slice(0, queryAt));
}
