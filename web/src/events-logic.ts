// The History and Train tabs' decisions that need no DOM: the query a filter makes, how attempts are
// grouped, how feedback is worded. Pure, so that unit tests cover them without a browser.

/** An event as GET /api/events shows it (src/server/routes/events.ts). */
export interface EventView {
  id: number;
  kind: 'alert' | 'attempt';
  camera: string;
  trackId: number;
  /** alert: the name given (null: unknown); attempt: the closest identity. */
  identity: { id: number; name: string } | null;
  known: boolean;
  score: number;
  votes: number;
  matchedOn: 'face' | 'upper-face';
  occludedFraction?: number;
  frameTime: string;
  box: { x: number; y: number; width: number; height: number };
  feedback?: EventFeedbackView;
  images: { face: string; inpainted?: string; mask?: string; source?: string };
}

export interface EventFeedbackView {
  action: 'is' | 'not' | 'new';
  identity: { id: number; name: string };
  sampleId: number;
  at: string;
}

export interface HistoryFilter {
  /** '' for any. */
  camera: string;
  /** An identity id as text, or '' for anyone. */
  identity: string;
  /** 'true', 'false' or '' for both. */
  known: string;
  /** The values of <input type="datetime-local"> (local time), or ''. */
  since: string;
  until: string;
}

/** A datetime-local value (local time, no zone) as ISO-8601 UTC; undefined when empty or not a time. */
export function localToIso(value: string): string | undefined {
  if (!value) return undefined;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

/** The query string of GET /api/events for a filter and page. */
export function eventsQuery(kind: 'alert' | 'attempt', filter: Partial<HistoryFilter>, options: { cursor?: string | null; limit?: number } = {}): string {
  const q = new URLSearchParams({ kind });
  if (filter.camera) q.set('camera', filter.camera);
  if (filter.identity) q.set('identity', filter.identity);
  if (filter.known === 'true' || filter.known === 'false') q.set('known', filter.known);
  const since = localToIso(filter.since ?? '');
  const until = localToIso(filter.until ?? '');
  if (since) q.set('since', since);
  if (until) q.set('until', until);
  if (options.limit) q.set('limit', String(options.limit));
  if (options.cursor) q.set('cursor', options.cursor);
  return q.toString();
}

export interface AttemptGroup {
  /** The closest identity's id as text, or '' for attempts that came close to nobody. */
  key: string;
  identity: { id: number; name: string } | null;
  attempts: EventView[];
  /** The best score in the group. */
  best: number;
}

/** Attempts grouped by the name they came closest to: the largest groups first, "nobody" last; newest first inside. */
export function groupAttempts(attempts: readonly EventView[]): AttemptGroup[] {
  const groups = new Map<string, AttemptGroup>();
  for (const a of attempts) {
    const key = a.identity ? String(a.identity.id) : '';
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { key, identity: a.identity, attempts: [], best: -Infinity }));
    group.attempts.push(a);
    group.best = Math.max(group.best, a.score);
  }
  for (const g of groups.values()) g.attempts.sort((x, y) => y.id - x.id);
  return [...groups.values()].sort((a, b) => {
    if (!a.identity !== !b.identity) return a.identity ? -1 : 1;
    if (a.attempts.length !== b.attempts.length) return b.attempts.length - a.attempts.length;
    return (a.identity?.name ?? '').localeCompare(b.identity?.name ?? '');
  });
}

/** What an event's feedback did, in words. */
export function feedbackText(feedback: EventFeedbackView | undefined): string | undefined {
  if (!feedback) return undefined;
  const name = feedback.identity.name;
  if (feedback.action === 'not') return `Marked: not ${name} (a negative sample of ${name})`;
  if (feedback.action === 'new') return `Added as a new person: ${name}`;
  return `Added as a photo of ${name}`;
}

/** "Unknown face", "Colin Powell", or for an attempt "closest: Colin Powell". */
export function eventTitle(event: Pick<EventView, 'kind' | 'identity' | 'known'>): string {
  if (event.kind === 'attempt') return event.identity ? `Closest: ${event.identity.name}` : 'No gallery match';
  return event.identity?.name ?? 'Unknown face';
}
