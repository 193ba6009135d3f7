// The live alert feed: a WebSocket to /alerts that reconnects with backoff, cards for each alert
// (the face crop, and for an occluded face the repaired crop and the mask over the crop), filters
// by camera and identity, and unknown faces in their own column.
import type { AlertMessage } from '../../src/alert/message.ts';
import { ApiError, type Api } from './api.ts';
import { byId, el, setOptions } from './dom.ts';
import {
  alertsUrl,
  distinctSorted,
  filterAlerts,
  formatMatchedOn,
  formatOccluded,
  formatScore,
  keepNewest,
  reconnectDelay,
  type AlertFilter,
  type ReceivedAlert,
} from './logic.ts';

/** Alerts kept on the page; older ones leave it. */
const MAX_ALERTS = 200;

/** Close codes worth explaining (see src/alert/hub.ts). */
const CLOSE_REASONS: Record<number, string> = {
  1001: 'the service is shutting down',
  1006: 'the connection was lost',
  4008: 'this page fell behind and the service closed the feed',
};

export class AlertFeed {
  private socket?: WebSocket;
  private alerts: ReceivedAlert[] = [];
  private readonly cards = new Map<number, HTMLElement>();
  private nextId = 1;
  /** The server's id of the last alert received: a reconnect asks for what came after it. */
  private lastAlertId?: string;
  private attempt = 0;
  private retryTimer?: number;
  private countdownTimer?: number;
  private stopped = false;
  /** Offered in the filters: names of the service's cameras, and identity names by id. */
  private cameraNames: string[] = [];
  private readonly identityNames = new Map<string, string>();
  private readonly elements = {
    status: byId('feed-status'),
    banner: byId('banner'),
    bannerText: byId('banner-text'),
    reconnectNow: byId<HTMLButtonElement>('reconnect-now'),
    camera: byId<HTMLSelectElement>('filter-camera'),
    identity: byId<HTMLSelectElement>('filter-identity'),
    clear: byId<HTMLButtonElement>('clear-alerts'),
    knownList: byId('known-list'),
    unknownList: byId('unknown-list'),
    knownEmpty: byId('known-empty'),
    unknownEmpty: byId('unknown-empty'),
    count: byId('alert-count'),
  };
  private readonly listeners = new AbortController();

  constructor(
    private readonly api: Api,
    private readonly apiKey: string,
  ) {
    const signal = this.listeners.signal;
    this.elements.camera.addEventListener('change', () => this.render(), { signal });
    this.elements.identity.addEventListener('change', () => this.render(), { signal });
    this.elements.clear.addEventListener('click', () => this.clear(), { signal });
    this.elements.reconnectNow.addEventListener('click', () => this.connectNow(), { signal });
    this.render();
    this.connect();
  }

  /** Cameras known to the service, offered in the camera filter besides those seen in alerts. */
  setCameras(names: string[]): void {
    this.cameraNames = names;
    this.updateFilterMenus();
  }

  /** Identities of the gallery, offered in the identity filter besides those seen in alerts. */
  setIdentities(identities: { id: number; name: string }[]): void {
    for (const identity of identities) this.identityNames.set(String(identity.id), identity.name);
    this.updateFilterMenus();
  }

  stop(): void {
    this.stopped = true;
    this.listeners.abort();
    window.clearTimeout(this.retryTimer);
    window.clearInterval(this.countdownTimer);
    this.socket?.close(1000, 'page closed the feed');
    this.elements.banner.hidden = true;
    this.alerts = [];
    this.cards.clear();
    this.render();
  }

  private connect(): void {
    if (this.stopped) return;
    this.setStatus('connecting', 'Connecting…');
    const socket = new WebSocket(alertsUrl(location, this.apiKey, this.lastAlertId));
    this.socket = socket;
    socket.addEventListener('open', () => {
      this.attempt = 0;
      this.elements.banner.hidden = true;
      this.setStatus('live', 'Live');
    });
    socket.addEventListener('message', (event) => this.onMessage(event.data));
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket || this.stopped) return;
      void this.onDropped(event.code, event.reason);
    });
  }

  private connectNow(): void {
    window.clearTimeout(this.retryTimer);
    window.clearInterval(this.countdownTimer);
    this.connect();
  }

  /** The browser does not say why an upgrade failed: ask the API whether the key is still good. */
  private async onDropped(code: number, reason: string): Promise<void> {
    try {
      await this.api.cameras();
    } catch (err) {
      // A refused key ends the feed (the page asks for the key again); anything else is retried.
      if (err instanceof ApiError && err.status === 401) return;
    }
    if (this.stopped) return;
    const why = reason || CLOSE_REASONS[code] || `closed with code ${code}`;
    const delay = reconnectDelay(this.attempt);
    this.attempt++;
    const retryAt = Date.now() + delay;
    const showCountdown = () => {
      const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      this.elements.bannerText.textContent = `Alert feed disconnected: ${why}. Reconnecting in ${seconds} s (attempt ${this.attempt}).`;
    };
    showCountdown();
    this.elements.banner.hidden = false;
    this.setStatus('down', 'Disconnected');
    window.clearInterval(this.countdownTimer);
    this.countdownTimer = window.setInterval(showCountdown, 500);
    this.retryTimer = window.setTimeout(() => {
      window.clearInterval(this.countdownTimer);
      this.connect();
    }, delay);
  }

  private onMessage(data: unknown): void {
    if (typeof data !== 'string') return;
    let message: { type?: string; message?: string };
    try {
      message = JSON.parse(data);
    } catch {
      return; // The hub only sends JSON; anything else is not for us.
    }
    if (message.type === 'error') console.warn('alert feed:', message.message);
    // A reconnect the server could not fully replay: the History tab has what is missing.
    if (message.type === 'replay' && message.message) console.warn('alert feed:', message.message);
    if (message.type !== 'alert') return;
    const alert: ReceivedAlert = { ...(message as AlertMessage), localId: this.nextId++ };
    if (alert.id) this.lastAlertId = alert.id;
    if (alert.identity) this.identityNames.set(String(alert.identity.id), alert.identity.name);
    this.alerts = keepNewest(this.alerts, alert, MAX_ALERTS);
    this.updateFilterMenus();
    this.render();
  }

  private clear(): void {
    this.alerts = [];
    this.cards.clear();
    this.render();
  }

  private setStatus(state: 'connecting' | 'live' | 'down', text: string): void {
    this.elements.status.dataset.state = state;
    this.elements.status.textContent = `Alert feed: ${text}`;
  }

  private updateFilterMenus(): void {
    const cameras = distinctSorted([...this.cameraNames, ...this.alerts.map((a) => a.camera)]);
    setOptions(this.elements.camera, { value: '', label: 'All cameras' }, cameras.map((c) => ({ value: c, label: c })));
    const identities = [...this.identityNames].sort((a, b) => a[1].localeCompare(b[1]));
    setOptions(this.elements.identity, { value: '', label: 'Anyone' }, identities.map(([id, name]) => ({ value: id, label: name })));
  }

  private render(): void {
    const filter: AlertFilter = { camera: this.elements.camera.value, identity: this.elements.identity.value };
    const { known, unknown } = filterAlerts(this.alerts, filter);
    const kept = new Set(this.alerts.map((a) => a.localId));
    for (const id of this.cards.keys()) if (!kept.has(id)) this.cards.delete(id);
    this.elements.knownList.replaceChildren(...known.map((a) => this.card(a)));
    this.elements.unknownList.replaceChildren(...unknown.map((a) => this.card(a)));
    this.elements.knownEmpty.hidden = known.length > 0;
    this.elements.unknownEmpty.hidden = unknown.length > 0;
    this.elements.count.textContent = this.alerts.length ? `(${this.alerts.length})` : '';
  }

  /** A card is built once per alert and reused across filter changes. */
  private card(alert: ReceivedAlert): HTMLElement {
    let card = this.cards.get(alert.localId);
    if (!card) {
      card = alertCard(alert);
      this.cards.set(alert.localId, card);
    }
    return card;
  }
}

function alertCard(alert: ReceivedAlert): HTMLElement {
  const name = alert.identity?.name ?? 'Unknown face';
  const time = new Date(alert.frameTime);
  const crop = el(
    'div',
    { class: 'crop' },
    el('img', { src: `data:image/jpeg;base64,${alert.faceJpeg}`, alt: `Face seen on ${alert.camera}`, width: 112, height: 112 }),
  );
  if (alert.occlusionMaskPng) {
    const overlay = el('div', { class: 'mask-overlay', 'aria-hidden': 'true' });
    // The mask is white where the face is covered; as a luminance mask it lets the tint through there.
    overlay.style.maskImage = `url(data:image/png;base64,${alert.occlusionMaskPng})`;
    crop.append(overlay);
  }
  const figures = [el('figure', {}, crop, el('figcaption', {}, alert.occlusionMaskPng ? 'Seen (covered part tinted)' : 'Seen'))];
  if (alert.inpaintedJpeg)
    figures.push(
      el(
        'figure',
        {},
        el('div', { class: 'crop' }, el('img', { src: `data:image/jpeg;base64,${alert.inpaintedJpeg}`, alt: 'Face with the covered part repaired', width: 112, height: 112 })),
        el('figcaption', {}, 'Repaired'),
      ),
    );
  const occluded = formatOccluded(alert.occludedFraction);
  const matchedOn = formatMatchedOn(alert.matchedOn);
  return el(
    'li',
    { class: `alert-card ${alert.known ? 'known' : 'unknown'}`, 'data-camera': alert.camera },
    el('div', { class: 'faces' }, ...figures),
    el(
      'div',
      { class: 'details' },
      el('h3', { class: 'who' }, name),
      el(
        'dl',
        {},
        el('dt', {}, 'Score'),
        el('dd', {}, formatScore(alert.score)),
        el('dt', {}, 'Camera'),
        el('dd', {}, alert.camera),
        el('dt', {}, 'Time'),
        el('dd', {}, el('time', { datetime: alert.frameTime, title: alert.frameTime }, time.toLocaleTimeString())),
        occluded && el('dt', {}, 'Occlusion'),
        occluded && el('dd', {}, occluded),
        matchedOn && el('dt', {}, 'Matched on'),
        matchedOn && el('dd', {}, matchedOn),
      ),
    ),
  );
}
