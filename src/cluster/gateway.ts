// The gateway's feed: every entry of the events stream, in order, from this gateway's own position,
// which it stores in Redis after each entry it delivered. A gateway that restarts goes on from there:
// the alerts that came while it was away are delivered, those it delivered before are not again.
// Those are recalled instead (the last few), so that its subscribers can be replayed them on a reconnect.
import type { Redis } from 'ioredis';
import type { AlertMessage } from '../alert/message.ts';
import type { NewEvent } from '../events/store.ts';
import { stageLogger } from '../observe/log.ts';
import { eventsDelivered } from './metrics.ts';
import { entryList, readEntries, type ClusterKeys, type StreamEntry } from './redis.ts';
import { decodeEvent } from './wire.ts';

const log = stageLogger('gateway');

/** One entry of the events stream, decoded. */
export interface FeedEntry {
  id: string;
  kind: 'alert' | 'attempt';
  /** For an alert: the payload the WebSocket subscribers get. */
  alert?: AlertMessage;
  /** The event for the history, when the infer workers made one. */
  event?: NewEvent;
}

/** An entry of the events stream as the gateway delivers it; undefined for one it cannot read. */
export function feedEntry({ id, fields }: StreamEntry): FeedEntry | undefined {
  const kind = fields.get('kind')?.toString();
  if (kind !== 'alert' && kind !== 'attempt') return undefined;
  const alertJson = fields.get('alert');
  const eventBytes = fields.get('event');
  const alert = alertJson ? (JSON.parse(alertJson.toString('utf8')) as AlertMessage) : undefined;
  if (kind === 'alert' && !alert) return undefined;
  return { id, kind, ...(alert ? { alert } : {}), ...(eventBytes ? { event: decodeEvent(eventBytes) } : {}) };
}

/** Compares two stream ids ("ms-seq"). */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  return am === bm ? Number(as - bs) : am < bm ? -1 : 1;
}

/** How far back a starting gateway looks for alerts to recall, in entries per alert wanted (attempts come between). */
const RECALL_SCAN_FACTOR = 8;
const RECALL_PAGE = 200;

export interface RecallOptions {
  /** Alerts, the newest up to the starting position, handed to `recall` oldest first. */
  count: number;
  recall: (entry: FeedEntry) => void;
}

export class GatewayFeed {
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  /** The id of the last entry delivered. */
  position = '0-0';

  constructor(
    private readonly redis: Redis,
    /** A connection of its own: it blocks on the stream. */
    private readonly reader: Redis,
    private readonly keys: ClusterKeys,
    readonly id: string,
    private readonly deliver: (entry: FeedEntry) => void,
    private readonly recallOptions?: RecallOptions,
  ) {}

  /**
   * Goes on from the stored position; a gateway's first start begins at the stream's end (stored at
   * once, so that what comes while it is away later is not missed either).
   */
  async start(): Promise<void> {
    const stored = await this.redis.get(this.keys.gatewayPosition(this.id));
    if (stored) this.position = stored;
    else {
      const [last] = await this.redis.xrevrange(this.keys.events, '+', '-', 'COUNT', 1);
      this.position = last?.[0] ?? '0-0';
      await this.redis.set(this.keys.gatewayPosition(this.id), this.position);
    }
    const [first] = await this.redis.xrange(this.keys.events, '-', '+', 'COUNT', 1);
    if (stored && first && compareIds(first[0], stored) > 0 && compareIds(stored, '0-0') > 0)
      log.warn({ gateway: this.id, position: stored, oldest: first[0] }, 'the events stream was trimmed past this gateway\'s position: the entries in between are gone (raise cluster.eventsMaxLen)');
    log.info({ gateway: this.id, position: this.position, resumed: stored !== null }, 'following the events stream');
    await this.recall();
    this.running = true;
    this.loop = this.run();
  }

  /**
   * Hands the last alerts up to the position (delivered before a restart, or before a first start) to
   * `recall`, oldest first. Looks back at most RECALL_SCAN_FACTOR entries per alert wanted; a failure
   * costs only the recall.
   */
  private async recall(): Promise<void> {
    const wanted = this.recallOptions?.count ?? 0;
    if (wanted === 0 || this.position === '0-0') return;
    const found: FeedEntry[] = [];
    let scanned = 0;
    let end = this.position;
    try {
      while (found.length < wanted && scanned < wanted * RECALL_SCAN_FACTOR) {
        const reply = await this.redis.callBuffer('XREVRANGE', this.keys.events, end, '-', 'COUNT', RECALL_PAGE);
        const page = entryList(reply as unknown[]);
        for (const raw of page) {
          scanned++;
          try {
            const entry = feedEntry(raw);
            if (entry?.alert) found.push(entry);
          } catch {
            // unreadable: the live loop says so for new entries; an old one is just not recalled
          }
          if (found.length === wanted) break;
        }
        if (page.length < RECALL_PAGE) break;
        end = `(${page[page.length - 1]!.id}`;
      }
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cannot recall the alerts before this gateway\'s position: a reconnecting subscriber is not replayed them');
    }
    for (const entry of found.reverse()) this.recallOptions!.recall(entry);
    if (found.length) log.info({ gateway: this.id, alerts: found.length }, 'recalled the last alerts for replay');
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        const reply = await this.reader.callBuffer('XREAD', 'COUNT', 100, 'BLOCK', 1000, 'STREAMS', this.keys.events, this.position);
        for (const raw of readEntries(reply)) {
          if (!this.running) return;
          let entry: FeedEntry | undefined;
          try {
            entry = feedEntry(raw);
          } catch (err) {
            log.warn({ err: (err as Error).message, entry: raw.id }, 'unreadable events entry: skipped');
          }
          if (entry) {
            this.deliver(entry);
            eventsDelivered.inc({ kind: entry.kind });
          }
          this.position = raw.id;
          await this.redis.set(this.keys.gatewayPosition(this.id), raw.id);
        }
      } catch (err) {
        if (!this.running) return;
        log.warn({ err: (err as Error).message }, 'cannot read the events stream; retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.reader.disconnect();
    await this.loop;
  }
}
