// A subscriber that stops reading, beside one that reads (issue 19, failure 8): with alerts at a
// camera's pace (one a second, each with a face crop), the one that stopped is closed with 4008 once
// it is server.subscriberQueue alerts behind, and the other gets every alert.
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { AlertHub, CLOSE_SLOW_SUBSCRIBER } from '../../src/alert/hub.ts';
import { ALERT_SCHEMA, type AlertMessage } from '../../src/alert/message.ts';
import { parseConfig } from '../../src/config.ts';
import { buildServer, type UnmaskServer } from '../../src/server/app.ts';

const KEY = 'fault-subscribers-key-0123456789';
const QUEUE = 5;

function alert(trackId: number): AlertMessage {
  return {
    schema: ALERT_SCHEMA,
    type: 'alert',
    identity: { id: 1, name: 'Ada' },
    known: true,
    score: 0.9,
    camera: 'door',
    trackId,
    frameTime: new Date().toISOString(),
    sentTime: '',
    box: { x: 1, y: 2, width: 80, height: 90 },
    faceJpeg: 'A'.repeat(8 * 1024), // about an aligned face's JPEG in base64
    votes: 2,
    matchedOn: 'face',
  };
}

describe('slow subscriber at one alert a second', () => {
  let app: UnmaskServer;
  let hub: AlertHub;
  let port: number;

  beforeAll(async () => {
    // The defaults but the queue: the socket may buffer its 8 MiB, the heartbeat comes every 30 s.
    const config = parseConfig({ server: { subscriberQueue: QUEUE } });
    hub = new AlertHub(config.server);
    app = buildServer({ config, apiKey: KEY, health: () => ({ uptimeSec: 0, cameras: {}, subscribers: 0, gallery: { identities: 0, samples: 0 } }), hub });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await app.close();
  });

  const connect = () =>
    new Promise<{ ws: WebSocket; alerts: number[]; closed: Promise<{ code: number; reason: string; at: number }> }>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/alerts`, { headers: { 'x-api-key': KEY } });
      const alerts: number[] = [];
      ws.on('message', (data) => {
        const message = JSON.parse(String(data)) as { type: string; trackId?: number };
        if (message.type === 'alert') alerts.push(message.trackId!);
      });
      const closed = new Promise<{ code: number; reason: string; at: number }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString(), at: Date.now() })));
      ws.once('open', () => resolve({ ws, alerts, closed }));
      ws.once('error', reject);
    });

  it(`closes the one that stopped reading with 4008 after ${QUEUE} alerts, while the other gets every one`, async () => {
    const reader = await connect();
    const stalled = await connect();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const socket = (stalled.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    const pausedAt = Date.now();
    const subscribers = hub.subscriberCount;

    let published = 0;
    let droppedAt: number | undefined;
    // One alert a second until the stalled one is dropped (at most 20 s), then two more.
    for (let extra = 2; extra > 0 && published < 20; ) {
      hub.publish(alert(published++));
      await new Promise((resolve) => setTimeout(resolve, 1000));
      if (droppedAt === undefined && hub.subscriberCount < subscribers) droppedAt = Date.now();
      if (droppedAt !== undefined) extra--;
    }
    expect(droppedAt, `the stalled subscriber was still connected after ${published} alerts at 1/s`).toBeDefined();
    console.log(`slow subscriber: dropped ${((droppedAt! - pausedAt) / 1000).toFixed(1)} s after it stopped reading (${QUEUE} alerts behind at 1 alert/s; heartbeat 30 s)`);

    socket.resume();
    const closed = await stalled.closed;
    expect(closed).toMatchObject({ code: CLOSE_SLOW_SUBSCRIBER, reason: 'slow subscriber: queue overflow' });
    expect(stalled.alerts.length).toBeLessThanOrEqual(QUEUE);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(reader.alerts).toEqual(Array.from({ length: published }, (_, i) => i));
    expect(reader.ws.readyState).toBe(WebSocket.OPEN);
    reader.ws.close();
  });
});
