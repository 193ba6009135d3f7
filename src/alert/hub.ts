// The WebSocket alert hub: subscribers connect to /alerts, choose what they receive with a filter,
// and get alerts pushed as JSON. A slow subscriber is closed once it is server.subscriberQueue alerts
// behind, so it can neither grow memory nor delay anyone else. "Behind" counts what the client has not
// read: the queue here, and what the socket and the network hold. Each alert is followed by a ping that
// carries its number; the client's pong (every WebSocket client answers pings, browsers too) says it
// has read up to there, since TCP keeps the order. That holds at any alert rate, where the socket's
// buffered bytes alone fill only after megabytes.
// Every alert carries an `id`; a subscriber that reconnects with ?after=<id> is first sent the alerts
// it missed, from the last server.replayAlerts this hub keeps, so that a dropped connection loses nothing.
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { ALERT_SCHEMA, type AlertMessage } from './message.ts';
import { stageLogger } from '../observe/log.ts';
import { frameToAlertSeconds, subscribers as subscribersGauge, subscribersDropped, subscribersRefused } from '../observe/metrics.ts';
import { unauthorizedBody, type AuthResult } from '../server/auth.ts';
import { FilterError, matches, parseFilterQuery, parseSubscribeMessage, type AlertFilter } from './filter.ts';

export const ALERTS_PATH = '/alerts';

/** Close code for a subscriber whose queue overflowed (4000–4999: application codes). */
export const CLOSE_SLOW_SUBSCRIBER = 4008;
const SLOW_SUBSCRIBER_REASON = 'slow subscriber: queue overflow';
/** Close code when the server shuts down ("going away"). */
export const CLOSE_GOING_AWAY = 1001;
/** Close code when server.maxSubscribers are connected already ("try again later", RFC 6455). */
export const CLOSE_TOO_MANY_SUBSCRIBERS = 1013;

// Clients only send small subscribe messages; anything bigger is a mistake or an attack.
const MAX_INCOMING_BYTES = 16 * 1024;
// At shutdown, how long a client gets to answer the close handshake before its socket is cut.
const SHUTDOWN_GRACE_MS = 2000;

export interface AlertHubOptions {
  /** Messages a subscriber may be behind (queued, or sent and not yet read) before it is closed as too slow. */
  subscriberQueue: number;
  /** The queue is flushed into the socket only while its unsent bytes stay below this. */
  subscriberMaxBufferedBytes: number;
  /** Interval of the ping/pong heartbeat; a client that misses one pong is dropped. */
  heartbeatSec: number;
  /** Subscribers at once; one more is closed with 1013. */
  maxSubscribers?: number;
  /** Browser origins allowed besides the page's own (server.allowedOrigins). */
  allowedOrigins?: readonly string[];
  /** Alerts kept for subscribers that reconnect with ?after=<id> (server.replayAlerts); 0: none. */
  replayAlerts?: number;
}

/** Longest `after` accepted: the hub's ids and Redis stream ids are far shorter. */
const MAX_ID_LENGTH = 64;

/** A refused upgrade: the HTTP status, and headers (Retry-After) to send with the JSON body. */
export type UpgradeRefusal = AuthResult & { ok: false; status?: number; headers?: Record<string, string> };
/** Decides whether an upgrade request may connect (the server passes its API-key check and brake). */
export type UpgradeAuthorizer = (request: IncomingMessage) => AuthResult | UpgradeRefusal | Promise<AuthResult | UpgradeRefusal>;

/**
 * Whether a browser at `origin` may open the alerts socket on `host`: its own origin (the page, served
 * through the same host), a listed one, or any with "*". No Origin: not a browser, the key decides alone.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[] = []): boolean {
  if (origin === undefined || allowed.includes('*')) return true;
  let from: URL;
  try {
    from = new URL(origin);
  } catch {
    return false;
  }
  if (host !== undefined) {
    try {
      if (new URL(`${from.protocol}//${host}`).host === from.host) return true;
    } catch {
      // a malformed Host matches nothing
    }
  }
  return allowed.some((entry) => {
    try {
      return new URL(entry).origin === from.origin;
    } catch {
      return false;
    }
  });
}

/** A message waiting in a subscriber's queue: alerts get their `sentTime` when they are sent. */
interface Outgoing {
  /** The JSON text; for an alert, without its closing brace so that `sentTime` can be appended. */
  text: string;
  isAlert: boolean;
}

/** An alert kept for replay: what filters look at, and the text sent. */
interface KeptAlert {
  id: string;
  fields: Pick<AlertMessage, 'camera' | 'identity' | 'score'>;
  prepared: Outgoing;
}

interface Subscriber {
  ws: WebSocket;
  filter: AlertFilter;
  queue: Outgoing[];
  /** Whether a pong arrived since the last ping. */
  alive: boolean;
  remote: string;
  /** Alerts handed to the socket, numbered from 1… */
  sent: number;
  /** …and the highest of them the client has read (echoed in a pong). */
  read: number;
}

type ControlMessage =
  | { type: 'hello'; schema: typeof ALERT_SCHEMA; filter: AlertFilter }
  | { type: 'subscribed'; filter: AlertFilter }
  | { type: 'replay'; after: string; replayed: number; complete: boolean; message?: string }
  | { type: 'error'; message: string };

const log = stageLogger('alert');

export class AlertHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_INCOMING_BYTES, clientTracking: false });
  /** Subscribers that receive alerts. */
  private readonly subscribers = new Set<Subscriber>();
  /** Every open socket, including slow subscribers being closed: what shutdown must wait for. */
  private readonly sockets = new Set<WebSocket>();
  private heartbeat?: NodeJS.Timeout;
  private attachedTo?: Server;
  private authorizeUpgrade?: UpgradeAuthorizer;
  private closing?: Promise<void>;
  /** The last server.replayAlerts alerts, oldest first. */
  private readonly kept: KeptAlert[] = [];
  /** Ids of this hub's own alerts: unique across restarts of the process, in order within one. */
  private readonly epoch = Date.now().toString(36);
  private sequence = 0;

  constructor(private readonly options: AlertHubOptions) {
    if (!(options.subscriberQueue >= 1)) throw new RangeError(`subscriberQueue must be at least 1, got ${options.subscriberQueue}`);
    if (!(options.subscriberMaxBufferedBytes >= 1))
      throw new RangeError(`subscriberMaxBufferedBytes must be at least 1, got ${options.subscriberMaxBufferedBytes}`);
    if (!(options.heartbeatSec > 0)) throw new RangeError(`heartbeatSec must be positive, got ${options.heartbeatSec}`);
  }

  /** Subscribers connected now (slow subscribers being closed are not counted). */
  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Serves WebSocket upgrades of `server` at /alerts, for requests that `authorize` accepts. */
  attach(server: Server, authorize: UpgradeAuthorizer): void {
    if (this.attachedTo) throw new Error('AlertHub is already attached to a server');
    this.attachedTo = server;
    this.authorizeUpgrade = authorize;
    server.on('upgrade', this.onUpgrade);
    this.heartbeat = setInterval(() => this.checkHeartbeats(), this.options.heartbeatSec * 1000);
    this.heartbeat.unref();
  }

  /**
   * Queues `alert` for every subscriber whose filter matches it and returns how many that is.
   * Synchronous and never blocks: the alert is serialised once, and a subscriber whose queue is
   * full is closed (code 4008) instead of waited for. `id` names the alert to subscribers (a cluster
   * gateway passes the events stream's entry id, the same on every gateway); without it the hub numbers it.
   */
  publish(alert: AlertMessage, id = this.nextId()): number {
    const frameTime = Date.parse(alert.frameTime);
    if (Number.isFinite(frameTime)) frameToAlertSeconds.observe(Math.max(0, Date.now() - frameTime) / 1000);

    let prepared = this.keep(alert, id);
    let queued = 0;
    for (const subscriber of this.subscribers) {
      if (!matches(subscriber.filter, alert)) continue;
      prepared ??= prepareAlert(alert, id);
      if (this.enqueue(subscriber, prepared)) queued++;
    }
    return queued;
  }

  /** A new alert id of this hub's numbering, for an alert that other outlets (MQTT) carry too. */
  nextId(): string {
    return `${this.epoch}-${++this.sequence}`;
  }

  /**
   * Keeps an alert for replay without sending it: one a restarted cluster gateway had delivered
   * before its restart (the events stream still holds it).
   */
  remember(alert: AlertMessage, id: string): void {
    this.keep(alert, id);
  }

  /** Closes every socket with 1001 (cut after a short grace) and refuses new connections. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const subscriber of this.subscribers) this.removeSubscriber(subscriber);
    await Promise.all([...this.sockets].map((ws) => closeWithGrace(ws)));
    this.wss.close();
  }

  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    void this.upgrade(request, socket, head).catch((err: unknown) => {
      log.warn({ err }, 'WebSocket upgrade failed');
      socket.destroy();
    });
  };

  private async upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Until ws owns the socket, a reset by the client must not become an uncaught error.
    const onSocketError = (err: Error) => log.debug({ err }, 'socket error during WebSocket upgrade');
    socket.on('error', onSocketError);

    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname !== ALERTS_PATH) {
      rejectUpgrade(socket, 404, { error: 'not_found', message: `no WebSocket endpoint at ${url.pathname}: alerts are at ${ALERTS_PATH}` });
      return;
    }
    if (this.closing) {
      rejectUpgrade(socket, 503, { error: 'unavailable', message: 'the server is shutting down' });
      return;
    }
    const origin = request.headers.origin;
    if (!originAllowed(origin, request.headers.host, this.options.allowedOrigins)) {
      subscribersRefused.inc({ reason: 'origin' });
      log.info({ remote: request.socket.remoteAddress, origin }, 'WebSocket upgrade refused: origin not allowed');
      rejectUpgrade(socket, 403, {
        error: 'origin_not_allowed',
        message: `a page at ${origin} may not open ${ALERTS_PATH}: only the operator's page and server.allowedOrigins may`,
      });
      return;
    }
    const auth = await this.authorizeUpgrade!(request);
    if (!auth.ok) {
      const refusal = auth as UpgradeRefusal;
      log.info({ remote: request.socket.remoteAddress, reason: auth.message }, 'WebSocket upgrade refused');
      if (refusal.status && refusal.status !== 401)
        rejectUpgrade(socket, refusal.status, { error: 'too_many_failed_keys', message: auth.message }, refusal.headers);
      else rejectUpgrade(socket, 401, unauthorizedBody(auth.message));
      return;
    }
    let filter: AlertFilter;
    try {
      filter = parseFilterQuery(url.searchParams);
    } catch (err) {
      if (!(err instanceof FilterError)) throw err;
      rejectUpgrade(socket, 400, { error: 'bad_request', message: err.message });
      return;
    }
    const after = url.searchParams.get('after') ?? undefined;
    if (after !== undefined && (after.length === 0 || after.length > MAX_ID_LENGTH)) {
      rejectUpgrade(socket, 400, { error: 'bad_request', message: `after: the id of the last alert received (1 to ${MAX_ID_LENGTH} characters)` });
      return;
    }
    // Gone, or the server began to close, while the key was checked.
    if (socket.destroyed || this.closing) {
      socket.destroy();
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      socket.removeListener('error', onSocketError);
      const remote = `${request.socket.remoteAddress}:${request.socket.remotePort}`;
      const max = this.options.maxSubscribers ?? Infinity;
      if (this.subscribers.size >= max) {
        subscribersRefused.inc({ reason: 'limit' });
        log.warn({ remote, subscribers: this.subscribers.size }, 'subscriber refused: server.maxSubscribers reached');
        this.sockets.add(ws);
        ws.on('close', () => this.sockets.delete(ws));
        ws.close(CLOSE_TOO_MANY_SUBSCRIBERS, `too many subscribers: server.maxSubscribers is ${max}; try again later`);
        return;
      }
      this.addSubscriber(ws, filter, remote, after);
    });
  }

  private addSubscriber(ws: WebSocket, filter: AlertFilter, remote: string, after?: string): void {
    const subscriber: Subscriber = { ws, filter, queue: [], alive: true, remote, sent: 0, read: 0 };
    this.sockets.add(ws);
    this.subscribers.add(subscriber);
    subscribersGauge.inc();
    log.info({ remote, filter, subscribers: this.subscribers.size }, 'subscriber connected');

    ws.on('pong', (data) => {
      subscriber.alive = true;
      // The number of the last alert sent before the ping this pong answers; a heartbeat's pong is empty.
      const read = Number(data.toString('latin1'));
      if (Number.isInteger(read) && read > subscriber.read) {
        subscriber.read = Math.min(read, subscriber.sent);
        this.flush(subscriber);
      }
    });
    ws.on('message', (data, isBinary) => this.onMessage(subscriber, data, isBinary));
    ws.on('error', (err) => log.warn({ err, remote }, 'subscriber socket error'));
    ws.on('close', (code, reason) => {
      this.sockets.delete(ws);
      this.removeSubscriber(subscriber);
      log.info({ remote, code, reason: reason.toString(), subscribers: this.subscribers.size }, 'subscriber disconnected');
    });
    this.enqueue(subscriber, control({ type: 'hello', schema: ALERT_SCHEMA, filter }));
    if (after !== undefined) this.replay(subscriber, after);
  }

  /** Adds the alert to the last server.replayAlerts; its prepared text, or undefined when none are kept. */
  private keep(alert: AlertMessage, id: string): Outgoing | undefined {
    if (!(this.options.replayAlerts ?? 0)) return undefined;
    const prepared = prepareAlert(alert, id);
    this.kept.push({ id, fields: { camera: alert.camera, identity: alert.identity, score: alert.score }, prepared });
    if (this.kept.length > this.options.replayAlerts!) this.kept.shift();
    return prepared;
  }

  /**
   * Sends a reconnecting subscriber the alerts after `after` that its filter takes: a `replay` message
   * saying how many follow and whether that is all it missed, then the alerts. Synchronous, like
   * publish, so no alert falls between the replay and the live ones. At most subscriberQueue − 2 are
   * replayed (the newest), so that a replay never closes the subscriber as slow.
   */
  private replay(subscriber: Subscriber, after: string): void {
    const at = this.kept.findIndex((alert) => alert.id === after);
    const missed = at === -1 ? [] : this.kept.slice(at + 1).filter((alert) => matches(subscriber.filter, alert.fields));
    const room = Math.max(0, this.options.subscriberQueue - 2);
    const replayed = missed.slice(Math.max(0, missed.length - room));
    const left = missed.length - replayed.length;
    let message: string | undefined;
    if (at === -1)
      message = `alert ${after} is not among the last ${this.kept.length} this server keeps (server.replayAlerts; it restarted, or more came since): what was missed is in GET /api/events`;
    else if (left > 0) message = `the ${left} oldest of the ${missed.length} alerts missed are left out (server.subscriberQueue): they are in GET /api/events`;
    log.info({ remote: subscriber.remote, after, replayed: replayed.length, left, found: at !== -1 }, 'replaying missed alerts');
    this.enqueue(subscriber, control({ type: 'replay', after, replayed: replayed.length, complete: message === undefined, ...(message && { message }) }));
    for (const alert of replayed) this.enqueue(subscriber, alert.prepared);
  }

  /** Stops delivering to `subscriber`; true when it was still a subscriber. */
  private removeSubscriber(subscriber: Subscriber): boolean {
    subscriber.queue.length = 0;
    if (!this.subscribers.delete(subscriber)) return false;
    subscribersGauge.dec();
    return true;
  }

  private onMessage(subscriber: Subscriber, data: RawData, isBinary: boolean): void {
    if (!this.subscribers.has(subscriber)) return;
    if (isBinary) {
      this.enqueue(subscriber, control({ type: 'error', message: 'binary messages are not understood: send JSON text' }));
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(rawText(data));
    } catch (err) {
      this.enqueue(subscriber, control({ type: 'error', message: `message is not JSON: ${(err as Error).message}` }));
      return;
    }
    try {
      subscriber.filter = parseSubscribeMessage(message);
    } catch (err) {
      if (!(err instanceof FilterError)) throw err;
      this.enqueue(subscriber, control({ type: 'error', message: err.message }));
      return;
    }
    log.debug({ remote: subscriber.remote, filter: subscriber.filter }, 'subscriber changed its filter');
    // Through the queue, so that every alert after this reply was chosen by the new filter.
    this.enqueue(subscriber, control({ type: 'subscribed', filter: subscriber.filter }));
  }

  /** How far behind the client is: messages queued here, and alerts sent that it has not read. */
  private behind(subscriber: Subscriber): number {
    return subscriber.queue.length + subscriber.sent - subscriber.read;
  }

  /** Appends to the subscriber's queue and flushes; closes the subscriber when it is too far behind. */
  private enqueue(subscriber: Subscriber, message: Outgoing): boolean {
    if (this.behind(subscriber) >= this.options.subscriberQueue) {
      this.dropSlow(subscriber);
      return false;
    }
    subscriber.queue.push(message);
    this.flush(subscriber);
    return true;
  }

  /**
   * Moves queued messages into the socket while it holds fewer unsent bytes than
   * subscriberMaxBufferedBytes and the client has read all but half its allowance of alerts: the
   * rest waits here, where it is dropped unsent if the subscriber is closed, so that the close frame
   * is not behind a full allowance of alerts.
   */
  private flush(subscriber: Subscriber): void {
    const { ws, queue } = subscriber;
    const window = Math.max(1, Math.ceil(this.options.subscriberQueue / 2));
    while (
      queue.length > 0 &&
      ws.readyState === WebSocket.OPEN &&
      ws.bufferedAmount < this.options.subscriberMaxBufferedBytes &&
      subscriber.sent - subscriber.read < window
    ) {
      const message = queue.shift()!;
      const text = message.isAlert ? `${message.text},"sentTime":${JSON.stringify(new Date().toISOString())}}` : message.text;
      // The callback runs once the socket has taken the data: room for the next queued message.
      ws.send(text, (err) => {
        if (!err) this.flush(subscriber);
      });
      if (message.isAlert) ws.ping(String(++subscriber.sent));
    }
  }

  private dropSlow(subscriber: Subscriber): void {
    const state = { behind: this.behind(subscriber), queued: subscriber.queue.length, unread: subscriber.sent - subscriber.read };
    if (!this.removeSubscriber(subscriber)) return;
    subscribersDropped.inc();
    log.warn(
      { remote: subscriber.remote, ...state, bufferedBytes: subscriber.ws.bufferedAmount },
      'closing slow subscriber: it is server.subscriberQueue messages behind',
    );
    // The close frame follows the data already in the socket; ws cuts the socket if the
    // handshake does not complete within its close timeout, so memory stays bounded.
    subscriber.ws.close(CLOSE_SLOW_SUBSCRIBER, SLOW_SUBSCRIBER_REASON);
  }

  private checkHeartbeats(): void {
    for (const subscriber of this.subscribers) {
      if (!subscriber.alive) {
        log.warn({ remote: subscriber.remote }, 'dropping subscriber: no pong since the last heartbeat');
        this.removeSubscriber(subscriber);
        subscriber.ws.terminate();
        continue;
      }
      subscriber.alive = false;
      subscriber.ws.ping();
    }
  }
}

/** Serialises an alert once for all its subscribers, with its id, leaving `sentTime` to be filled in at send. */
function prepareAlert(alert: AlertMessage, id: string): Outgoing {
  const { sentTime: _setAtSend, id: _named, ...rest } = alert;
  return { text: JSON.stringify({ id, ...rest }).slice(0, -1), isAlert: true };
}

function control(message: ControlMessage): Outgoing {
  return { text: JSON.stringify(message), isAlert: false };
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/** Answers an upgrade request with a plain HTTP error (the client sees the status, not a close). */
function rejectUpgrade(socket: Duplex, status: number, body: Record<string, string>, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: application/json; charset=utf-8\r\n' +
      Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('') +
      `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}

function closeWithGrace(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    const cut = setTimeout(() => ws.terminate(), SHUTDOWN_GRACE_MS);
    ws.once('close', () => {
      clearTimeout(cut);
      resolve();
    });
    ws.close(CLOSE_GOING_AWAY, 'server shutting down');
  });
}
