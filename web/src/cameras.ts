// Camera health: state, last error, measured fps, frame counters and the latest frame of each
// camera, polled while the panel is shown.
import { ApiError, type Api, type CameraView } from './api.ts';
import { byId, el } from './dom.ts';

const POLL_MS = 2000;

const STATE_TEXT: Record<CameraView['state'], string> = {
  connecting: 'Connecting',
  live: 'Live',
  retrying: 'Retrying',
  ended: 'Ended',
  stopped: 'Stopped',
};

export class CamerasView {
  private timer?: number;
  private visible = false;
  private stopped = false;
  /** The object URL of each camera's frame on screen, revoked when the next one replaces it. */
  private readonly frames = new Map<string, string>();
  private readonly elements = { list: byId('camera-list'), empty: byId('cameras-empty'), error: byId('cameras-error') };

  constructor(
    private readonly api: Api,
    /** Told the camera names after every poll (the alert filter offers them). */
    private readonly onCameras: (names: string[]) => void,
  ) {
    void this.poll();
  }

  /** Polls only while shown: frames are encoded on request, which costs the service. */
  setVisible(visible: boolean): void {
    this.visible = visible;
    window.clearTimeout(this.timer);
    if (visible) void this.poll();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    for (const url of this.frames.values()) URL.revokeObjectURL(url);
    this.frames.clear();
    this.elements.list.replaceChildren();
  }

  private async poll(): Promise<void> {
    try {
      const cameras = await this.api.cameras();
      if (this.stopped) return;
      this.elements.error.textContent = '';
      this.onCameras(cameras.map((c) => c.name));
      if (this.visible) await this.render(cameras);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return; // the page asks for the key again
      this.elements.error.textContent = `Cannot read the cameras: ${(err as Error).message}`;
    }
    if (this.visible && !this.stopped) {
      window.clearTimeout(this.timer);
      this.timer = window.setTimeout(() => void this.poll(), POLL_MS);
    }
  }

  private async render(cameras: CameraView[]): Promise<void> {
    const frames = await Promise.all(cameras.map((camera) => this.latestFrame(camera)));
    if (this.stopped) return;
    this.elements.list.replaceChildren(...cameras.map((camera, i) => cameraCard(camera, frames[i])));
    this.elements.empty.hidden = cameras.length > 0;
  }

  /** The newest frame's object URL, or why there is none. */
  private async latestFrame(camera: CameraView): Promise<{ url?: string; note?: string }> {
    if (!camera.frameUrl) return { note: 'No frame received yet' };
    try {
      const url = await this.api.imageUrl(camera.frameUrl);
      const previous = this.frames.get(camera.name);
      this.frames.set(camera.name, url);
      // Revoked after the new image is on screen, so the old one never flashes empty.
      if (previous) window.setTimeout(() => URL.revokeObjectURL(previous), POLL_MS);
      return { url };
    } catch (err) {
      return { note: `Frame unavailable: ${(err as Error).message}` };
    }
  }
}

function cameraCard(camera: CameraView, frame: { url?: string; note?: string }): HTMLElement {
  const titleId = `camera-${camera.name}-name`;
  const since = new Date(camera.since);
  return el(
    'article',
    { class: 'camera', 'aria-labelledby': titleId, 'data-camera': camera.name },
    el('header', {}, el('h3', { id: titleId }, camera.name), el('span', { class: `state state-${camera.state}` }, STATE_TEXT[camera.state])),
    frame.url
      ? el('img', { class: 'frame', src: frame.url, alt: `Latest frame of ${camera.name}`, width: 640, height: 360 })
      : el('p', { class: 'frame placeholder' }, frame.note ?? ''),
    el(
      'dl',
      {},
      el('dt', {}, 'Measured fps'),
      el('dd', {}, camera.fps.toFixed(1)),
      el('dt', {}, 'Frames in'),
      el('dd', {}, String(camera.framesIn)),
      el('dt', {}, 'Dropped'),
      el('dd', {}, String(camera.framesDropped)),
      el('dt', {}, 'Restarts'),
      el('dd', {}, String(camera.restarts)),
      el('dt', {}, 'In this state since'),
      el('dd', {}, el('time', { datetime: camera.since }, since.toLocaleTimeString())),
    ),
    camera.lastError ? el('p', { class: 'error last-error' }, `Last error: ${camera.lastError}`) : null,
  );
}
