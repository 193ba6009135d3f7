// The cameras API for the operator's page: each camera's state, last error, measured frame rate and
// counters, and its latest decoded frame as JPEG. Only the newest frame of each camera is kept (a
// reference to the buffer ffmpeg's reader already allocated); it is encoded only when asked for.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import sharp from 'sharp';
import type { Observable, Subscription } from 'rxjs';
import type { CameraState, CameraStatus } from '../../source/camera.ts';
import type { Frame } from '../../pipeline/messages.ts';

/** The frame rate is measured over the frames of this last stretch of time. */
export const FPS_WINDOW_MS = 5000;
const FRAME_JPEG_QUALITY = 80;

/**
 * Frames per second measured from arrival times (ms, oldest first) over the `windowMs` before `now`:
 * (frames − 1) / (span from the first to the last in the window), and 0 once the newest frame is
 * older than the window (a stalled camera must not show its old rate).
 */
export function measuredFps(arrivals: readonly number[], now: number, windowMs = FPS_WINDOW_MS): number {
  const recent = arrivals.filter((t) => t > now - windowMs && t <= now);
  if (recent.length < 2) return 0;
  const spanMs = recent[recent.length - 1] - recent[0];
  return spanMs > 0 ? ((recent.length - 1) * 1000) / spanMs : 0;
}

/** What the page shows of a camera (GET /api/cameras). */
export interface CameraView {
  name: string;
  state: CameraState;
  lastError?: string;
  /** ISO-8601 time the camera entered its state. */
  since: string;
  restarts: number;
  /** Frames per second received over the last FPS_WINDOW_MS. */
  fps: number;
  framesIn: number;
  /** Frames the pipeline dropped because detection could not keep up. */
  framesDropped: number;
  lastFrameAt?: string;
  /** Path of the latest frame; absent until the first frame arrives. */
  frameUrl?: string;
}

/** A camera as the watcher sees it: its frames and its status. */
export interface WatchedCamera {
  frames$: Observable<Frame>;
  status(): CameraStatus;
}

interface RecentFrames {
  latest?: Frame;
  /** Arrival times (ms) within the last FPS_WINDOW_MS, oldest first. */
  arrivals: number[];
}

interface Watched {
  camera: WatchedCamera;
  recent: RecentFrames;
  subscription: Subscription;
}

/** Where the cameras API finds the cameras: this process's (CameraWatch), or a cluster's, reported through Redis. */
export interface CameraDirectory {
  list(): CameraView[] | Promise<CameraView[]>;
  /** The camera's latest frame as JPEG; null before its first frame, undefined when there is no such camera. */
  latestJpeg(name: string): Promise<{ jpeg: Buffer; time: number } | null | undefined>;
}

/** The latest frame as the cameras API serves it. */
export async function frameJpeg(frame: Frame): Promise<{ jpeg: Buffer; time: number }> {
  const { data, width, height } = frame.image;
  return { jpeg: await sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: FRAME_JPEG_QUALITY }).toBuffer(), time: frame.time };
}

/** Keeps every camera's latest frame and recent arrival times; `framesDropped` comes from the pipeline's counters. */
export class CameraWatch implements CameraDirectory {
  private readonly cameras = new Map<string, Watched>();

  constructor(private readonly framesDropped: (camera: string) => number) {}

  add(name: string, camera: WatchedCamera): void {
    if (this.cameras.has(name)) throw new Error(`camera "${name}" is already watched`);
    const recent: RecentFrames = { arrivals: [] };
    const subscription = camera.frames$.subscribe((frame) => {
      recent.latest = frame;
      recent.arrivals.push(frame.time);
      // Bounded by the window, whatever the camera's rate.
      const oldest = frame.time - FPS_WINDOW_MS;
      while (recent.arrivals.length > 0 && recent.arrivals[0] <= oldest) recent.arrivals.shift();
    });
    this.cameras.set(name, { camera, recent, subscription });
  }

  list(now = Date.now()): CameraView[] {
    return [...this.cameras].map(([name, { camera, recent }]) => {
      const s = camera.status();
      return {
        name,
        state: s.state,
        lastError: s.lastError,
        since: new Date(s.since).toISOString(),
        restarts: s.restarts,
        fps: Math.round(measuredFps(recent.arrivals, now) * 10) / 10,
        framesIn: s.framesIn,
        framesDropped: this.framesDropped(name),
        lastFrameAt: s.lastFrameAt ? new Date(s.lastFrameAt).toISOString() : undefined,
        frameUrl: recent.latest ? `/api/cameras/${encodeURIComponent(name)}/frame.jpg` : undefined,
      };
    });
  }

  has(name: string): boolean {
    return this.cameras.has(name);
  }

  /** Stops watching a camera (a cluster's ingest worker lost its lease). */
  remove(name: string): void {
    this.cameras.get(name)?.subscription.unsubscribe();
    this.cameras.delete(name);
  }

  latestFrame(name: string): Frame | undefined {
    return this.cameras.get(name)?.recent.latest;
  }

  async latestJpeg(name: string): Promise<{ jpeg: Buffer; time: number } | null | undefined> {
    if (!this.has(name)) return undefined;
    const frame = this.latestFrame(name);
    return frame ? frameJpeg(frame) : null;
  }

  close(): void {
    for (const watched of this.cameras.values()) watched.subscription.unsubscribe();
    this.cameras.clear();
  }
}

export function cameraRoutes(cameras: CameraDirectory): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    app.get('/api/cameras', async () => ({ cameras: await cameras.list() }));

    app.get<{ Params: { name: string } }>('/api/cameras/:name/frame.jpg', async (request, reply) => {
      const { name } = request.params;
      const frame = await cameras.latestJpeg(name);
      if (frame === undefined)
        return reply.code(404).send({ error: 'camera_not_found', message: `no camera named "${name}" in this service` });
      if (!frame)
        return reply
          .code(404)
          .send({ error: 'no_frame_yet', message: `camera "${name}" has not delivered a frame yet: see its state in /api/cameras` });
      return reply
        .type('image/jpeg')
        .header('cache-control', 'no-store')
        .header('x-frame-time', new Date(frame.time).toISOString())
        .send(frame.jpeg);
    });
  };
}
