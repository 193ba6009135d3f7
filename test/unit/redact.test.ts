import { describe, expect, it } from 'vitest';
import { redactingStream, requestSerializer } from '../../src/observe/log.ts';
import { redactSecrets, withoutApiKey } from '../../src/observe/redact.ts';

describe('redaction', () => {
  it('removes the credentials of every URL in a text, whatever the scheme', () => {
    expect(redactSecrets('ffmpeg exited with code 1: rtsp://admin:s3cret@127.0.0.1:9/x: Connection refused')).toBe(
      'ffmpeg exited with code 1: rtsp://***@127.0.0.1:9/x: Connection refused',
    );
    expect(redactSecrets('mqtts://user:p%40ss@broker:8883 and http://viewer@cam.local/mjpeg')).toBe('mqtts://***@broker:8883 and http://***@cam.local/mjpeg');
    expect(redactSecrets('"url":"rtsp://a:b@h/s"')).toBe('"url":"rtsp://***@h/s"');
    // Nothing to hide: unchanged.
    expect(redactSecrets('rtsp://10.0.0.5/stream1 is live')).toBe('rtsp://10.0.0.5/stream1 is live');
    expect(redactSecrets('user@example.com wrote')).toBe('user@example.com wrote');
  });

  it('hides secret query values (camera passwords, API keys, tokens) and keeps the others', () => {
    expect(redactSecrets('http://cam/video.cgi?user=admin&pwd=s3cret&resolution=640')).toBe('http://cam/video.cgi?user=***&pwd=***&resolution=640');
    expect(redactSecrets('/alerts?api_key=abcdefghijklmnop&cameras=door')).toBe('/alerts?api_key=***&cameras=door');
    expect(redactSecrets('/x?token=t0k&password=p;key=k')).toBe('/x?token=***&password=***;key=***');
  });

  it('drops api_key from a request path for the request log', () => {
    expect(withoutApiKey('/api/identities?api_key=abcdefghijklmnop')).toBe('/api/identities');
    expect(withoutApiKey('/api/events?camera=door&api_key=k&limit=5')).toBe('/api/events?camera=door&limit=5');
    expect(withoutApiKey('/api/events?API-KEY=k')).toBe('/api/events');
    expect(withoutApiKey('/healthz')).toBe('/healthz');
    const logged = requestSerializer({ method: 'GET', url: '/api/cameras?api_key=secret-secret-1234', ip: '127.0.0.1', socket: { remotePort: 5000 } });
    expect(logged).toEqual({ method: 'GET', url: '/api/cameras', host: undefined, remoteAddress: '127.0.0.1', remotePort: 5000 });
  });

  it('the log stream redacts every line on its way out', () => {
    const lines: string[] = [];
    const stream = redactingStream({ write: (line: string) => lines.push(line) });
    stream.write('{"msg":"camera retrying: rtsp://admin:s3cret@cam/x","err":{"stack":"at rtsp://u:p@h"}}\n');
    expect(lines).toEqual(['{"msg":"camera retrying: rtsp://***@cam/x","err":{"stack":"at rtsp://***@h"}}\n']);
  });
});
