// MQTT against a real broker (Debian's mosquitto on a loopback port of its own): every alert is
// published once and arrives on unmask/events and on its camera's topic, through a broker stopped and
// restarted mid-run (a repeat only as the broker's QoS 1 redelivery, DUP-flagged, with the same id);
// the camera state is retained; Home Assistant discovery configs are published; while no broker is
// reachable the last mqtt.queueSize messages wait and the rest are dropped and counted, and publishing
// never waits.
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertMessage } from '../../src/alert/message.ts';
import { parseConfig } from '../../src/config.ts';
import { identityLevel, MqttPublisher, topicLevel } from '../../src/mqtt/publisher.ts';
import { registry } from '../../src/observe/metrics.ts';
import { haveMosquitto, Mosquitto, noMosquittoReason } from '../support/mosquitto.ts';

if (!haveMosquitto) console.warn(`mqtt integration: skipped, ${noMosquittoReason}`);

function alert(trackId: number, identity: AlertMessage['identity'] = { id: 7, name: 'Ada Lovelace' }): AlertMessage {
  return {
    schema: 1, type: 'alert', id: `test-${trackId}`, identity, known: identity !== null, score: 0.8, camera: 'door', trackId,
    frameTime: new Date().toISOString(), sentTime: new Date().toISOString(), box: { x: 1, y: 2, width: 30, height: 30 },
    faceJpeg: 'AAAA', votes: 2, matchedOn: 'face',
  };
}

const settings = (url: string, overrides: Record<string, unknown> = {}) =>
  ({ ...parseConfig({ mqtt: { url, reconnectMs: 200, clientId: 'unmask-test', discovery: { enabled: true }, ...overrides } }).mqtt, url });

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A subscriber whose session (and QoS 1 queue) the broker keeps while it is away. */
interface Received {
  topic: string;
  payload: string;
  retain: boolean;
  /** MQTT's DUP flag: the broker sends this message again (QoS 1 redelivery after a restart). */
  dup: boolean;
}

async function subscriber(url: string, topics: string[], got: Received[], clientId: string, clean = false): Promise<MqttClient> {
  const client = mqtt.connect(url, { clientId, clean, reconnectPeriod: 100 });
  client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain, dup: packet.dup }));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  await client.subscribeAsync(topics, { qos: 1 });
  return client;
}

describe('topic levels', () => {
  it('makes names into topic levels, and keeps the camera topics of their own apart', () => {
    expect(topicLevel('Zoë Ångström-Smith')).toBe('zoe_angstrom_smith');
    expect(identityLevel({ id: 3, name: 'Ada Lovelace' })).toBe('ada_lovelace');
    expect(identityLevel(null)).toBe('unknown');
    expect(identityLevel({ id: 4, name: 'State' })).toBe('state_4');
    expect(identityLevel({ id: 5, name: 'Unknown' })).toBe('unknown_5');
    expect(identityLevel({ id: 6, name: '####' })).toBe('id_6');
  });
});

describe('MQTT with no broker', () => {
  it('queues the last queueSize messages without waiting, and counts what it drops', async () => {
    // A port nobody listens on: the client keeps trying, the publisher keeps queueing.
    const publisher = new MqttPublisher(settings('mqtt://127.0.0.1:9', { queueSize: 10 }));
    const started = performance.now();
    for (let i = 1; i <= 20; i++) publisher.publishAlert(alert(i));
    expect(performance.now() - started).toBeLessThan(50);
    const stats = publisher.stats();
    expect(stats).toMatchObject({ connected: false, queued: 10, inFlight: 0, sent: 0 });
    // Each known alert is 4 messages (events, camera/identity, camera/last, camera/known).
    expect(stats.dropped).toBe(20 * 4 - 10);
    expect(await registry.getSingleMetricAsString('unmask_mqtt_messages_total')).toMatch(/result="dropped"} (\d+)/);
    await publisher.close();
  });
});

describe.skipIf(!haveMosquitto)('MQTT with a real mosquitto', () => {
  let broker: Mosquitto;

  beforeAll(async () => {
    broker = await Mosquitto.start();
  });
  afterAll(async () => {
    await broker?.close();
  });

  it('publishes every alert once and delivers it through a broker restart, and keeps the camera state retained', async () => {
    const got: Received[] = [];
    const sub = await subscriber(broker.url, ['unmask/events', 'unmask/door/+'], got, 'test-subscriber');
    const publisher = new MqttPublisher(settings(broker.url));
    await waitFor(() => publisher.stats().connected, 5000, 'the publisher to connect');
    publisher.cameraState('door', { state: 'live', since: Date.now(), restarts: 0, framesIn: 10 });

    const total = 30;
    for (let i = 1; i <= 10; i++) {
      publisher.publishAlert(alert(i, i % 3 === 0 ? null : { id: 7, name: 'Ada Lovelace' }));
      await new Promise((r) => setTimeout(r, 10));
    }
    await waitFor(() => publisher.stats().inFlight === 0 && publisher.stats().queued === 0, 5000, 'the first alerts to be acknowledged');

    // The broker goes away mid-run: the alerts meanwhile wait in the publisher's queue.
    await broker.stop();
    await waitFor(() => !publisher.stats().connected, 5000, 'the publisher to notice');
    for (let i = 11; i <= 20; i++) publisher.publishAlert(alert(i, i % 3 === 0 ? null : { id: 7, name: 'Ada Lovelace' }));
    expect(publisher.stats().queued).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 300));
    await broker.restart();
    for (let i = 21; i <= total; i++) {
      publisher.publishAlert(alert(i, i % 3 === 0 ? null : { id: 7, name: 'Ada Lovelace' }));
      await new Promise((r) => setTimeout(r, 10));
    }

    // QoS 1 is at least once: a message the broker had sent the subscriber before its stop, unacknowledged,
    // comes again after the restart, DUP-flagged. Counted without those, each alert came exactly once.
    const firstCopies = (topics: string[]) =>
      got.filter((m) => topics.includes(m.topic) && !m.dup).map((m) => (JSON.parse(m.payload) as AlertMessage).trackId).sort((a, b) => a - b);
    const events = () => firstCopies(['unmask/events']);
    await waitFor(() => events().length >= total, 15_000, `all ${total} alerts on unmask/events (got ${events().length})`);
    await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive by now
    expect(events()).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(firstCopies(['unmask/door/ada_lovelace', 'unmask/door/unknown'])).toEqual(events());
    for (const repeat of got.filter((m) => m.dup && m.topic === 'unmask/events')) {
      const { id } = JSON.parse(repeat.payload) as AlertMessage;
      expect(got.filter((m) => !m.dup && m.topic === 'unmask/events').map((m) => m.payload), `the repeat of ${id} is the same message`).toContain(repeat.payload);
    }
    expect(got.filter((m) => m.topic === 'unmask/door/unknown').every((m) => (JSON.parse(m.payload) as AlertMessage).identity === null)).toBe(true);
    // The crops stay out of MQTT unless mqtt.images asks for them.
    expect(JSON.parse(got.find((m) => m.topic === 'unmask/events')!.payload)).not.toHaveProperty('faceJpeg');
    expect(publisher.stats().dropped).toBe(0);

    // A new subscriber gets the retained state and last person at once.
    const late: Received[] = [];
    const lateSub = await subscriber(broker.url, ['unmask/door/state', 'unmask/door/last', 'unmask/status'], late, 'test-late', true);
    await waitFor(() => late.length >= 3, 5000, 'the retained messages');
    expect(JSON.parse(late.find((m) => m.topic === 'unmask/door/state')!.payload)).toMatchObject({ state: 'live', restarts: 0 });
    expect(late.find((m) => m.topic === 'unmask/door/state')!.retain).toBe(true);
    expect(JSON.parse(late.find((m) => m.topic === 'unmask/door/last')!.payload)).toMatchObject({ name: 'unknown', known: false, identityId: null, trackId: total });
    expect(late.find((m) => m.topic === 'unmask/status')!.payload).toBe('online');

    await publisher.close();
    await waitFor(() => late.some((m) => m.topic === 'unmask/status' && m.payload === 'offline'), 5000, 'the offline status');
    await sub.endAsync();
    await lateSub.endAsync();
  });

  it('publishes Home Assistant discovery configs for each camera', async () => {
    const got: Received[] = [];
    const sub = await subscriber(broker.url, ['homeassistant/#'], got, 'test-ha', true);
    const publisher = new MqttPublisher(settings(broker.url, { clientId: 'ha-test', discovery: { enabled: true, presentSec: 45 } }));
    publisher.cameraState('front.door', { state: 'connecting', since: Date.now(), restarts: 0, framesIn: 0 });
    // The broker also holds the retained configs of the first test's publisher: this one's node only.
    const mine = () => got.filter((m) => m.topic.includes('/unmask_ha_test/'));
    await waitFor(() => mine().length >= 3, 5000, 'three discovery configs');
    const configs = Object.fromEntries(mine().map((m) => [m.topic, JSON.parse(m.payload)]));
    expect(Object.keys(configs).sort()).toEqual([
      'homeassistant/binary_sensor/unmask_ha_test/front_door_known_person/config',
      'homeassistant/sensor/unmask_ha_test/front_door_camera_state/config',
      'homeassistant/sensor/unmask_ha_test/front_door_last_person/config',
    ]);
    expect(configs['homeassistant/sensor/unmask_ha_test/front_door_last_person/config']).toMatchObject({
      name: 'Last person seen',
      state_topic: 'unmask/front.door/last',
      value_template: '{{ value_json.name }}',
      availability_topic: 'unmask/status',
      device: { name: 'unmask front.door' },
    });
    expect(configs['homeassistant/binary_sensor/unmask_ha_test/front_door_known_person/config']).toMatchObject({
      state_topic: 'unmask/front.door/known',
      payload_on: 'ON',
      off_delay: 45,
    });
    await publisher.close();
    await sub.endAsync();
  });
});
