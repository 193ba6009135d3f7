// MQTT for home automation: every alert on <prefix>/events and <prefix>/<camera>/<identity or
// unknown>, each camera's state retained on <prefix>/<camera>/state, and optionally the Home Assistant
// discovery configs of a "last person seen" sensor and a "known person present" binary sensor per camera.
//
// The pipeline never waits: publish() only queues. While the broker is away the last `queueSize`
// messages wait (older ones are dropped and counted) and go out, in order, on reconnect; the retained
// camera states, the discovery configs and the online status are sent again on every connect.
// Everything is QoS 1, at least once: an alert's `id` lets a consumer drop the broker's redelivery.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { AlertMessage } from '../alert/message.ts';
import type { Config } from '../config.ts';
import { mqttConnected, mqttMessages, mqttQueued } from '../observe/metrics.ts';
import { stageLogger } from '../observe/log.ts';
import { redactSecrets } from '../observe/redact.ts';
import type { CameraStatus } from '../source/camera.ts';

const log = stageLogger('mqtt');

export type MqttSettings = Config['mqtt'];

interface Message {
  topic: string;
  payload: string;
  retain: boolean;
}

export interface MqttStats {
  connected: boolean;
  /** Waiting for the broker. */
  queued: number;
  /** Handed to the client, not yet acknowledged. */
  inFlight: number;
  sent: number;
  dropped: number;
}

/** A topic level from a name: lower case, letters and digits, runs of anything else as "_". */
export function topicLevel(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/** Levels a camera's own topics use: an identity whose name gives one of them gets its id appended. */
const RESERVED_LEVELS = new Set(['state', 'last', 'known', 'unknown', '']);

/** The topic level of an alert's identity: its name's, or "unknown". */
export function identityLevel(identity: AlertMessage['identity']): string {
  if (!identity) return 'unknown';
  const level = topicLevel(identity.name);
  return RESERVED_LEVELS.has(level) ? `${level || 'id'}_${identity.id}` : level;
}

export class MqttPublisher {
  private readonly client: MqttClient;
  private readonly queue: Message[] = [];
  private inFlight = 0;
  private sent = 0;
  private dropped = 0;
  private connected = false;
  private closing = false;
  private readonly cameraStates = new Map<string, CameraStatus>();
  private readonly prefix: string;

  constructor(
    private readonly settings: MqttSettings & { url: string },
    credentials: { username?: string; password?: string } = {},
  ) {
    this.prefix = settings.topicPrefix.replace(/\/+$/, '');
    const options: IClientOptions = {
      clientId: settings.clientId,
      ...credentials,
      reconnectPeriod: settings.reconnectMs,
      connectTimeout: Math.max(5000, settings.reconnectMs),
      clean: true,
      // Offline messages are this class's queue, bounded; the client must not keep its own.
      queueQoSZero: false,
      will: { topic: this.statusTopic, payload: Buffer.from('offline'), qos: 1, retain: true },
    };
    this.client = mqtt.connect(settings.url, options);
    this.client.on('connect', () => this.onConnect());
    this.client.on('close', () => this.onDisconnect());
    this.client.on('offline', () => this.onDisconnect());
    this.client.on('error', (err) => log.warn({ err: err.message, url: redactSecrets(settings.url) }, 'MQTT error'));
    mqttConnected.set(0);
  }

  get statusTopic(): string {
    return `${this.prefix}/status`;
  }

  stats(): MqttStats {
    return { connected: this.connected, queued: this.queue.length, inFlight: this.inFlight, sent: this.sent, dropped: this.dropped };
  }

  /** Publishes an alert on <prefix>/events and <prefix>/<camera>/<identity or unknown>. Never blocks. */
  publishAlert(alert: AlertMessage): void {
    const body = JSON.stringify(this.settings.images ? alert : withoutImages(alert));
    const camera = alert.camera;
    this.enqueue({ topic: `${this.prefix}/events`, payload: body, retain: false });
    this.enqueue({ topic: `${this.prefix}/${camera}/${identityLevel(alert.identity)}`, payload: body, retain: false });
    // The small messages Home Assistant's sensors read (discovery).
    const last = {
      name: alert.identity?.name ?? 'unknown',
      known: alert.known,
      identityId: alert.identity?.id ?? null,
      score: alert.score,
      frameTime: alert.frameTime,
      trackId: alert.trackId,
    };
    this.enqueue({ topic: `${this.prefix}/${camera}/last`, payload: JSON.stringify(last), retain: true });
    if (alert.known) this.enqueue({ topic: `${this.prefix}/${camera}/known`, payload: 'ON', retain: false });
  }

  /** A camera's state, retained on <prefix>/<camera>/state; the latest is sent again on every connect. */
  cameraState(camera: string, status: CameraStatus): void {
    const isNew = !this.cameraStates.has(camera);
    this.cameraStates.set(camera, status);
    if (!this.connected) return;
    if (isNew && this.settings.discovery.enabled) for (const m of this.discoveryMessages(camera)) this.enqueue(m);
    this.enqueue(this.stateMessage(camera, status));
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.connected) {
      // Said by hand: a clean disconnect does not send the will.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        this.client.publish(this.statusTopic, 'offline', { qos: 1, retain: true }, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    await new Promise<void>((resolve) => this.client.end(false, {}, () => resolve()));
    this.connected = false;
    mqttConnected.set(0);
  }

  private stateMessage(camera: string, s: CameraStatus): Message {
    const payload = {
      state: s.state,
      since: new Date(s.since).toISOString(),
      ...(s.lastError ? { lastError: s.lastError } : {}),
      restarts: s.restarts,
      ...(s.lastFrameAt ? { lastFrameAt: new Date(s.lastFrameAt).toISOString() } : {}),
    };
    return { topic: `${this.prefix}/${camera}/state`, payload: JSON.stringify(payload), retain: true };
  }

  private onConnect(): void {
    const wasConnected = this.connected;
    this.connected = true;
    mqttConnected.set(1);
    log.info({ url: redactSecrets(this.settings.url), queued: this.queue.length, dropped: this.dropped }, wasConnected ? 'MQTT reconnected' : 'MQTT connected');
    // Ahead of the queue: what a subscriber needs to read the rest.
    const ahead: Message[] = [{ topic: this.statusTopic, payload: 'online', retain: true }];
    if (this.settings.discovery.enabled) for (const camera of this.cameraStates.keys()) ahead.push(...this.discoveryMessages(camera));
    for (const [camera, status] of this.cameraStates) ahead.push(this.stateMessage(camera, status));
    for (const m of ahead) this.send(m);
    this.drain();
  }

  private onDisconnect(): void {
    if (!this.connected) return;
    this.connected = false;
    mqttConnected.set(0);
    if (!this.closing) log.warn({ url: redactSecrets(this.settings.url) }, 'MQTT broker unreachable: queueing messages until it is back');
  }

  private enqueue(message: Message): void {
    if (this.closing) return;
    if (this.connected && this.queue.length === 0 && this.inFlight < this.settings.queueSize) {
      this.send(message);
      return;
    }
    this.queue.push(message);
    while (this.queue.length + this.inFlight > this.settings.queueSize && this.queue.length > 0) {
      this.queue.shift();
      this.dropped++;
      mqttMessages.inc({ result: 'dropped' });
    }
    mqttQueued.set(this.queue.length + this.inFlight);
  }

  private drain(): void {
    while (this.connected && this.queue.length > 0 && this.inFlight < this.settings.queueSize) this.send(this.queue.shift()!);
    mqttQueued.set(this.queue.length + this.inFlight);
  }

  private send(message: Message): void {
    this.inFlight++;
    this.client.publish(message.topic, message.payload, { qos: 1, retain: message.retain }, (err) => {
      this.inFlight--;
      if (err) {
        this.dropped++;
        mqttMessages.inc({ result: 'dropped' });
        if (!this.closing) log.warn({ err: err.message, topic: message.topic }, 'MQTT message lost');
      } else {
        this.sent++;
        mqttMessages.inc({ result: 'sent' });
      }
      this.drain();
    });
  }

  /** Home Assistant discovery: the camera's device with its three entities. */
  private discoveryMessages(camera: string): Message[] {
    const { prefix: disc, presentSec } = this.settings.discovery;
    const node = `unmask_${topicLevel(this.settings.clientId) || 'unmask'}`;
    const object = topicLevel(camera) || 'camera';
    const device = {
      identifiers: [`${node}_${object}`],
      name: `unmask ${camera}`,
      manufacturer: 'unmask',
      model: 'face recognition camera',
    };
    const common = {
      availability_topic: this.statusTopic,
      payload_available: 'online',
      payload_not_available: 'offline',
      device,
    };
    const config = (component: string, id: string, body: Record<string, unknown>): Message => ({
      topic: `${disc.replace(/\/+$/, '')}/${component}/${node}/${object}_${id}/config`,
      payload: JSON.stringify({ ...body, unique_id: `${node}_${object}_${id}`, object_id: `${node}_${object}_${id}`, ...common }),
      retain: true,
    });
    return [
      config('sensor', 'last_person', {
        name: 'Last person seen',
        icon: 'mdi:face-recognition',
        state_topic: `${this.prefix}/${camera}/last`,
        value_template: '{{ value_json.name }}',
        json_attributes_topic: `${this.prefix}/${camera}/last`,
      }),
      config('binary_sensor', 'known_person', {
        name: 'Known person present',
        device_class: 'occupancy',
        state_topic: `${this.prefix}/${camera}/known`,
        payload_on: 'ON',
        off_delay: presentSec,
      }),
      config('sensor', 'camera_state', {
        name: 'Camera state',
        icon: 'mdi:cctv',
        state_topic: `${this.prefix}/${camera}/state`,
        value_template: '{{ value_json.state }}',
        json_attributes_topic: `${this.prefix}/${camera}/state`,
      }),
    ];
  }
}

function withoutImages(alert: AlertMessage): Omit<AlertMessage, 'faceJpeg' | 'inpaintedJpeg' | 'occlusionMaskPng'> {
  const copy: Partial<AlertMessage> = { ...alert };
  delete copy.faceJpeg;
  delete copy.inpaintedJpeg;
  delete copy.occlusionMaskPng;
  return copy as Omit<AlertMessage, 'faceJpeg' | 'inpaintedJpeg' | 'occlusionMaskPng'>;
}

