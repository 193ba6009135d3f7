import { describe, expect, it } from 'vitest';
import { configSchema, type CameraConfig } from '../../src/config.ts';
import {
  FrameCutter,
  inputSpec,
  meaningfulStderr,
  sourceKind,
  videoFilter,
  type FfmpegFeatures,
} from '../../src/source/camera.ts';

const settings = configSchema.parse({}).source;
const modern: FfmpegFeatures = { rtspSocketTimeoutOption: '-timeout' };
const camera = (url: string, extra: Partial<CameraConfig> = {}): CameraConfig =>
  configSchema.parse({ cameras: [{ name: 'c', url, ...extra }] }).cameras[0]!;

/** The value following `flag` in an argument list. */
const valueOf = (args: string[], flag: string) => {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
};

describe('sourceKind', () => {
  it('classifies paths and URL schemes', () => {
    expect(sourceKind('/data/cam:1.mp4')).toBe('file');
    expect(sourceKind('clips/a.mp4')).toBe('file');
    expect(sourceKind('file:///data/a.mp4')).toBe('file');
    expect(sourceKind('rtsp://10.0.0.2/stream')).toBe('rtsp');
    expect(sourceKind('RTSPS://cam/stream')).toBe('rtsp');
    expect(sourceKind('https://cam/video.mjpg')).toBe('http');
    expect(sourceKind('udp://@:1234')).toBe('udp');
  });

  it('is checked at config load: an unsupported scheme names the key', () => {
    const result = configSchema.safeParse({ cameras: [{ name: 'c', url: 'rtmp://x/live' }] });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['cameras', 0, 'url']);
    expect(configSchema.safeParse({ cameras: [{ name: 'c', url: 'demo:' }] }).success).toBe(true);
  });

  it('refuses demo: (the caller resolves it) and unknown schemes, naming them', () => {
    expect(() => sourceKind('demo:')).toThrow(/demo: must be resolved/);
    expect(() => sourceKind('rtmp://x/live')).toThrow(/unsupported scheme "rtmp:"/);
  });
});

describe('inputSpec', () => {
  it('reads a file at native rate and loops it only when asked', () => {
    const looped = inputSpec(camera('file:///data/a%20b.mp4', { loop: true }), settings, modern);
    expect(looped.input).toBe('/data/a b.mp4');
    expect(valueOf(looped.options, '-stream_loop')).toBe('-1');
    expect(looped.options).toContain('-re');
    const once = inputSpec(camera('a.mp4', { realtime: false }), settings, modern);
    expect(once.input).toBe('a.mp4');
    expect(once.options).not.toContain('-re');
    expect(once.options).not.toContain('-stream_loop');
  });

  it('uses TCP for RTSP with the socket timeout option of the running ffmpeg, in microseconds', () => {
    const s = { ...settings, stallTimeoutSec: 7 };
    const current = inputSpec(camera('rtsp://cam/x'), s, modern);
    expect(valueOf(current.options, '-rtsp_transport')).toBe('tcp');
    expect(valueOf(current.options, '-timeout')).toBe('7000000');
    const old = inputSpec(camera('rtsp://cam/x'), s, { rtspSocketTimeoutOption: '-stimeout' });
    expect(valueOf(old.options, '-stimeout')).toBe('7000000');
    expect(old.options).not.toContain('-timeout');
  });

  it('lets ffmpeg probe HTTP sources and reconnect them', () => {
    const http = inputSpec(camera('http://cam/video.mjpg'), settings, modern);
    expect(http.input).toBe('http://cam/video.mjpg');
    expect(http.options).not.toContain('-f');
    expect(valueOf(http.options, '-reconnect')).toBe('1');
    expect(valueOf(http.options, '-reconnect_streamed')).toBe('1');
  });

  it('reads UDP as MPEG-TS with a non-fatal bounded FIFO, keeping what the user set', () => {
    const udp = inputSpec(camera('udp://@:1234'), settings, modern);
    expect(valueOf(udp.options, '-f')).toBe('mpegts');
    expect(udp.input).toMatch(/^udp:\/\/@:1234\?overrun_nonfatal=1&fifo_size=\d+$/);
    const custom = inputSpec(camera('udp://239.0.0.1:5000?fifo_size=100&localaddr=10.0.0.1'), settings, modern);
    expect(new URLSearchParams(custom.input.split('?')[1]).get('fifo_size')).toBe('100');
    expect(new URLSearchParams(custom.input.split('?')[1]).get('localaddr')).toBe('10.0.0.1');
    expect(new URLSearchParams(custom.input.split('?')[1]).get('overrun_nonfatal')).toBe('1');
  });

  it('keeps ffmpeg quiet except for errors and off the keyboard', () => {
    const { options } = inputSpec(camera('a.mp4'), settings, modern);
    expect(valueOf(options, '-loglevel')).toBe('error');
    expect(options).toContain('-nostdin');
  });
});

describe('videoFilter', () => {
  it('resamples to the fps, then fits and pads to the exact size in rgb24', () => {
    expect(videoFilter(camera('a.mp4', { fps: 4, width: 320, height: 180 }))).toBe(
      'fps=4,scale=320:180:force_original_aspect_ratio=decrease,pad=320:180:(ow-iw)/2:(oh-ih)/2,setsar=1,format=rgb24',
    );
  });
});

describe('FrameCutter', () => {
  it('cuts a stream split at arbitrary places into exact frames, keeping the remainder', () => {
    const frameBytes = 7;
    const stream = Buffer.from(Array.from({ length: 7 * 5 + 3 }, (_, i) => i));
    const frames: Buffer[] = [];
    const cutter = new FrameCutter(frameBytes, (f) => frames.push(f));
    // Chunks smaller than, equal to, and spanning several frames.
    let at = 0;
    for (const size of [1, 2, 7, 16, 3, 9]) {
      cutter.push(stream.subarray(at, at + size));
      at += size;
    }
    expect(at).toBe(stream.length);
    expect(frames).toHaveLength(5);
    frames.forEach((f, k) => expect([...f]).toEqual([...stream.subarray(k * 7, k * 7 + 7)]));
    expect(cutter.pendingBytes).toBe(3);
  });

  it('hands out a fresh buffer per frame (a subscriber may keep it)', () => {
    const frames: Buffer[] = [];
    const cutter = new FrameCutter(2, (f) => frames.push(f));
    cutter.push(Buffer.from([1, 2, 3, 4]));
    expect([...frames[0]!]).toEqual([1, 2]);
    expect(frames[0]!.buffer === frames[1]!.buffer && frames[0]!.byteOffset === frames[1]!.byteOffset).toBe(false);
  });
});

describe('meaningfulStderr', () => {
  it('keeps the cause, drops the instance address and uninformative lines', () => {
    expect(meaningfulStderr('[tcp @ 0x55d0c1a2b3c0] Connection to tcp://127.0.0.1:1 failed: Connection refused\n')).toBe(
      'tcp: Connection to tcp://127.0.0.1:1 failed: Connection refused',
    );
    expect(meaningfulStderr('/x.mp4: No such file or directory')).toBe('/x.mp4: No such file or directory');
    expect(meaningfulStderr('Conversion failed!')).toBeUndefined();
    expect(meaningfulStderr('   ')).toBeUndefined();
  });
});
