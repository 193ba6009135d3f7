// The cameras API: measured frame rate, state and counters per camera, and the latest frame as JPEG.
import Fastify, { type FastifyInstance } from 'fastify';
import { Subject } from 'rxjs';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cameraRoutes, CameraWatch, measuredFps, type WatchedCamera } from '../../src/server/routes/cameras.ts';
import type { CameraStatus } from '../../src/source/camera.ts';
import type { Frame } from '../../src/pipeline/messages.ts';

describe('measuredFps', () => {
  it('counts the intervals between the frames of the window', () => {
    const times = [0, 200, 400, 600, 800, 1000]; // 5 fps
    expect(measuredFps(times, 1000, 5000)).toBeCloseTo(5);
    // Frames older than the window do not count: 2000..2400 at 10 fps.
    expect(measuredFps([0, 1000, 2000, 2100, 2200, 2300, 2400], 2400, 500)).toBeCloseTo(10);
  });

  it('is 0 with fewer than two recent frames (a stalled camera shows no old rate)', () => {
    expect(measuredFps([0, 200, 400], 10_000, 5000)).toBe(0);
    expect(measuredFps([9_900], 10_000, 5000)).toBe(0);
    expect(measuredFps([], 10_000, 5000)).toBe(0);
  });
});

function fakeCamera(): WatchedCamera & { frames: Subject<Frame>; current: CameraStatus } {
  const frames = new Subject<Frame>();
  const camera = {
    frames,
    frames$: frames.asObservable(),
    current: { state: 'connecting', since: Date.parse('2026-01-01T00:00:00Z'), restarts: 0, framesIn: 0 } as CameraStatus,
    status: () => camera.current,
  };
  return camera;
}

function frame(time: number, seq: number): Frame {
  const width = 64;
  const height = 36;
  const data = new Uint8Array(width * height * 3).fill(seq * 10);
  return { camera: 'door', seq, time, image: { width, height, data } };
}

describe('camera routes', () => {
  let app: FastifyInstance;
  let watch: CameraWatch;
  let door: ReturnType<typeof fakeCamera>;
  const dropped: Record<string, number> = { door: 3 };

  beforeEach(async () => {
    watch = new CameraWatch((name) => dropped[name] ?? 0);
    door = fakeCamera();
    watch.add('door', door);
    app = Fastify();
    await app.register(cameraRoutes(watch));
  });
  afterEach(async () => {
    watch.close();
    await app.close();
  });

  it('refuses a frame before the first one arrives, and names unknown cameras', async () => {
    const early = await app.inject({ method: 'GET', url: '/api/cameras/door/frame.jpg' });
    expect(early.statusCode).toBe(404);
    expect(early.json()).toEqual({ error: 'no_frame_yet', message: expect.stringMatching(/camera "door" has not delivered a frame yet/) });
    const unknown = await app.inject({ method: 'GET', url: '/api/cameras/attic/frame.jpg' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toBe('camera_not_found');
    const listed = (await app.inject({ method: 'GET', url: '/api/cameras' })).json().cameras[0];
    expect(listed).toMatchObject({ name: 'door', state: 'connecting', fps: 0, framesIn: 0, framesDropped: 3 });
    expect(listed.frameUrl).toBeUndefined();
  });

  it('lists state, error, counters and the measured rate, and serves the latest frame as JPEG', async () => {
    const now = Date.now();
    for (let i = 0; i < 11; i++) door.frames.next(frame(now - 2000 + i * 200, i)); // 5 fps for 2 s
    door.current = { state: 'live', since: now - 3000, restarts: 1, framesIn: 11, lastFrameAt: now, lastError: 'ffmpeg exited with code 1' };
    const { cameras } = (await app.inject({ method: 'GET', url: '/api/cameras' })).json();
    expect(cameras).toEqual([
      {
        name: 'door',
        state: 'live',
        lastError: 'ffmpeg exited with code 1',
        since: new Date(now - 3000).toISOString(),
        restarts: 1,
        fps: 5,
        framesIn: 11,
        framesDropped: 3,
        lastFrameAt: new Date(now).toISOString(),
        frameUrl: '/api/cameras/door/frame.jpg',
      },
    ]);
    const jpeg = await app.inject({ method: 'GET', url: '/api/cameras/door/frame.jpg' });
    expect(jpeg.statusCode).toBe(200);
    expect(jpeg.headers['content-type']).toBe('image/jpeg');
    const { data, info } = await sharp(jpeg.rawPayload).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([64, 36]);
    // The last frame (seq 10, grey 100), not an earlier one.
    expect(Math.abs(data[0] - 100)).toBeLessThanOrEqual(3);
  });

  it('stops following a camera once closed', () => {
    watch.close();
    door.frames.next(frame(Date.now(), 1));
    expect(door.frames.observed).toBe(false);
  });
});
