// The cluster's cameras as a gateway sees them: each camera's state as its ingest worker last reported
// it to Redis, who holds its lease, and its latest frame (GET /api/cameras, /healthz).
import type { Redis } from 'ioredis';
import type { CameraHealth } from '../server/app.ts';
import type { CameraDirectory, CameraView } from '../server/routes/cameras.ts';
import type { ClusterKeys } from './redis.ts';

/** A camera of the cluster: its view, the ingest worker holding its lease (null: none) and the lease's epoch. */
export interface ClusterCameraView extends CameraView {
  heldBy: string | null;
  epoch?: number;
  /** ISO-8601 time of the holder's last report. */
  reportedAt?: string;
}

/**
 * The cameras' views from the holders' reports and the leases. A camera nobody holds, or whose
 * report is older than `staleMs` (its worker died; the lease has not run out yet), is shown
 * `retrying` with the reason, whatever its last report said.
 */
export function clusterCameraViews(
  cameras: readonly string[],
  holders: readonly (string | null)[],
  reports: Record<string, string>,
  now: number,
  staleMs: number,
): ClusterCameraView[] {
  return cameras.map((name, i) => {
    const heldBy = holders[i];
    let report: ClusterCameraView | undefined;
    try {
      report = reports[name] ? (JSON.parse(reports[name]) as ClusterCameraView) : undefined;
    } catch {
      report = undefined;
    }
    const fresh = report && report.heldBy === heldBy && report.reportedAt && now - Date.parse(report.reportedAt) <= staleMs;
    if (heldBy && fresh) return { ...report!, name, heldBy };
    const lastError = heldBy ? `no report from ${heldBy} for over ${staleMs} ms` : 'no ingest worker holds this camera';
    return {
      name,
      state: 'retrying',
      lastError,
      since: report?.reportedAt ?? new Date(now).toISOString(),
      restarts: report?.restarts ?? 0,
      fps: 0,
      framesIn: report?.framesIn ?? 0,
      framesDropped: report?.framesDropped ?? 0,
      heldBy,
    };
  });
}

/** /healthz's record of a camera. */
export function cameraHealthOf(view: ClusterCameraView): CameraHealth & { heldBy: string | null } {
  return {
    state: view.state,
    lastError: view.lastError,
    since: view.since,
    restarts: view.restarts,
    framesIn: view.framesIn,
    framesDropped: view.framesDropped,
    lastFrameAt: view.lastFrameAt,
    heldBy: view.heldBy,
  };
}

export class ClusterCameras implements CameraDirectory {
  private latest: ClusterCameraView[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
    private readonly cameras: readonly string[],
    private readonly staleMs: number,
  ) {}

  async list(): Promise<ClusterCameraView[]> {
    if (!this.cameras.length) return [];
    const [holders, reports] = await Promise.all([this.redis.mget(this.cameras.map((c) => this.keys.lease(c))), this.redis.hgetall(this.keys.cameras)]);
    this.latest = clusterCameraViews(this.cameras, holders, reports, Date.now(), this.staleMs);
    return this.latest;
  }

  /** The views of the last list() (/healthz is synchronous; a timer keeps them fresh). */
  cached(): ClusterCameraView[] {
    return this.latest;
  }

  async latestJpeg(name: string): Promise<{ jpeg: Buffer; time: number } | null | undefined> {
    if (!this.cameras.includes(name)) return undefined;
    const stored = await this.redis.getBuffer(this.keys.frame(name));
    if (!stored) return null;
    const newline = stored.indexOf(10);
    return { time: Number(stored.subarray(0, newline).toString()), jpeg: stored.subarray(newline + 1) };
  }
}
