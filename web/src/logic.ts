// The page's decisions that need no DOM: which alerts to show, when to reconnect, how to word
// the service's refusals. Kept pure so that unit tests cover them without a browser.
import type { AlertMessage } from '../../src/alert/message.ts';

/** An alert as the page keeps it: the message plus a local id for rendering. */
export interface ReceivedAlert extends AlertMessage {
  /** Increasing per page load; newer alerts have larger ids. */
  localId: number;
}

export interface AlertFilter {
  /** A camera name, or '' for every camera. */
  camera: string;
  /** An identity id (as text, the value of a <select>), or '' for anyone. */
  identity: string;
}

export interface FilteredAlerts {
  known: ReceivedAlert[];
  /** Unknown faces, kept apart; hidden while one identity is chosen (they are not that person). */
  unknown: ReceivedAlert[];
}

/** The alerts the filter lets through, newest first, known and unknown apart. */
export function filterAlerts(alerts: readonly ReceivedAlert[], filter: AlertFilter): FilteredAlerts {
  const known: ReceivedAlert[] = [];
  const unknown: ReceivedAlert[] = [];
  for (const alert of alerts) {
    if (filter.camera && alert.camera !== filter.camera) continue;
    if (alert.known && alert.identity) {
      if (filter.identity && String(alert.identity.id) !== filter.identity) continue;
      known.push(alert);
    } else if (!filter.identity) {
      unknown.push(alert);
    }
  }
  const newestFirst = (a: ReceivedAlert, b: ReceivedAlert) => b.localId - a.localId;
  return { known: known.sort(newestFirst), unknown: unknown.sort(newestFirst) };
}

/** Adds an alert and keeps only the newest `max` (the page must not grow without bound). */
export function keepNewest(alerts: readonly ReceivedAlert[], alert: ReceivedAlert, max: number): ReceivedAlert[] {
  const all = [...alerts, alert];
  return all.length > max ? all.slice(all.length - max) : all;
}

/** The distinct values, sorted; for the filter menus. */
export function distinctSorted(values: Iterable<string>): string[] {
  return [...new Set(values)].sort((a, b) => a.localeCompare(b));
}

export interface BackoffSettings {
  initialMs: number;
  maxMs: number;
  /** Each delay is spread by ±this share, so that many pages do not reconnect in step. */
  jitter: number;
}

export const RECONNECT_BACKOFF: BackoffSettings = { initialMs: 500, maxMs: 15_000, jitter: 0.2 };

/**
 * The wait before reconnect attempt `attempt` (0 for the first after a drop): doubling from
 * initialMs, capped at maxMs, spread by ±jitter. `random` returns a number in [0, 1).
 */
export function reconnectDelay(attempt: number, settings: BackoffSettings = RECONNECT_BACKOFF, random: () => number = Math.random): number {
  const base = Math.min(settings.maxMs, settings.initialMs * 2 ** Math.max(0, Math.min(attempt, 30)));
  const spread = 1 + settings.jitter * (2 * random() - 1);
  return Math.round(Math.min(settings.maxMs, base * spread));
}

/** ws:// or wss:// URL of the alert feed on the page's own origin (the UI server passes it to the API). */
export function alertsUrl(location: { protocol: string; host: string }, apiKey: string, after?: string): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const resume = after ? `&after=${encodeURIComponent(after)}` : '';
  return `${scheme}//${location.host}/alerts?api_key=${encodeURIComponent(apiKey)}${resume}`;
}

/** A refusal of the API, as its JSON body says it ({ error, message }), or what the page can say instead. */
export function refusalMessage(status: number, body: unknown): string {
  if (body && typeof body === 'object') {
    const { message, error } = body as { message?: unknown; error?: unknown };
    if (typeof message === 'string' && message) return message;
    if (typeof error === 'string' && error) return `${error} (HTTP ${status})`;
  }
  return `the service answered HTTP ${status} without an explanation`;
}

export function formatScore(score: number): string {
  return score.toFixed(3);
}

/** "37 % covered", or undefined when no occlusion model ran. */
/** What the alert's face was matched on, for the card; undefined from a server that does not say. */
export function formatMatchedOn(on: AlertMessage['matchedOn'] | undefined): string | undefined {
  if (on === 'upper-face') return 'Upper face only';
  if (on === 'face') return 'Whole face';
  return undefined;
}

export function formatOccluded(fraction: number | undefined): string | undefined {
  if (fraction === undefined || !Number.isFinite(fraction)) return undefined;
  return `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)} % covered`;
}
