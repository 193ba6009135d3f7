// The operator page's pure decisions: alert filtering, the bounded list, reconnect backoff, URLs, wording.
import { describe, expect, it } from 'vitest';
import {
  alertsUrl,
  distinctSorted,
  filterAlerts,
  formatMatchedOn,
  formatOccluded,
  keepNewest,
  reconnectDelay,
  refusalMessage,
  type ReceivedAlert,
} from '../../web/src/logic.ts';

let nextId = 1;
function alert(camera: string, identity: { id: number; name: string } | null): ReceivedAlert {
  return {
    schema: 1,
    type: 'alert',
    identity,
    known: identity !== null,
    score: 0.95,
    camera,
    trackId: nextId,
    frameTime: '2026-01-01T00:00:00.000Z',
    sentTime: '2026-01-01T00:00:00.100Z',
    box: { x: 0, y: 0, width: 10, height: 10 },
    faceJpeg: '',
    votes: 1,
    matchedOn: 'face',
    localId: nextId++,
  };
}

const ann = { id: 1, name: 'Ann' };
const bob = { id: 2, name: 'Bob' };

describe('filterAlerts', () => {
  const alerts = [alert('door', ann), alert('yard', bob), alert('door', null), alert('yard', ann), alert('yard', null)];
  const ids = (list: ReceivedAlert[]) => list.map((a) => a.localId);
  const [a1, b1, u1, a2, u2] = alerts.map((a) => a.localId);

  it('shows everything, newest first, with unknown faces apart', () => {
    const { known, unknown } = filterAlerts(alerts, { camera: '', identity: '' });
    expect(ids(known)).toEqual([a2, b1, a1]);
    expect(ids(unknown)).toEqual([u2, u1]);
  });

  it('keeps one camera', () => {
    const { known, unknown } = filterAlerts(alerts, { camera: 'yard', identity: '' });
    expect(ids(known)).toEqual([a2, b1]);
    expect(ids(unknown)).toEqual([u2]);
  });

  it('keeps one identity, by id, and hides unknown faces then', () => {
    const { known, unknown } = filterAlerts(alerts, { camera: '', identity: '1' });
    expect(ids(known)).toEqual([a2, a1]);
    expect(unknown).toEqual([]);
    expect(ids(filterAlerts(alerts, { camera: 'door', identity: '2' }).known)).toEqual([]);
  });
});

describe('keepNewest', () => {
  it('drops the oldest beyond the limit', () => {
    let list: ReceivedAlert[] = [];
    const added = Array.from({ length: 5 }, () => alert('door', ann));
    for (const a of added) list = keepNewest(list, a, 3);
    expect(list.map((a) => a.localId)).toEqual(added.slice(2).map((a) => a.localId));
  });
});

describe('distinctSorted', () => {
  it('removes repeats and sorts', () => {
    expect(distinctSorted(['yard', 'door', 'yard', 'attic'])).toEqual(['attic', 'door', 'yard']);
  });
});

describe('reconnectDelay', () => {
  const settings = { initialMs: 500, maxMs: 15_000, jitter: 0.2 };
  const middle = () => 0.5; // no spread

  it('doubles from the initial delay and stops at the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 40].map((n) => reconnectDelay(n, settings, middle))).toEqual([500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000]);
  });

  it('spreads by at most the jitter, never above the cap', () => {
    expect(reconnectDelay(2, settings, () => 0)).toBe(1600);
    expect(reconnectDelay(2, settings, () => 0.999_999)).toBe(2400);
    expect(reconnectDelay(10, settings, () => 0.999_999)).toBe(15_000);
  });
});

describe('alertsUrl', () => {
  it('uses the page origin, ws for http and wss for https, and escapes the key', () => {
    expect(alertsUrl({ protocol: 'http:', host: 'box:8081' }, 'k&y=1')).toBe('ws://box:8081/alerts?api_key=k%26y%3D1');
    expect(alertsUrl({ protocol: 'https:', host: 'ops.example' }, 'abc')).toBe('wss://ops.example/alerts?api_key=abc');
  });

  it('asks for the alerts after the last one received when it has one', () => {
    expect(alertsUrl({ protocol: 'http:', host: 'box' }, 'abc', 'lq3-7')).toBe('ws://box/alerts?api_key=abc&after=lq3-7');
    expect(alertsUrl({ protocol: 'http:', host: 'box' }, 'abc', '1733-0+')).toBe('ws://box/alerts?api_key=abc&after=1733-0%2B');
  });
});

describe('refusalMessage', () => {
  it("prefers the service's message, then its code, then the status", () => {
    expect(refusalMessage(422, { error: 'no_face', message: 'no face found in the image' })).toBe('no face found in the image');
    expect(refusalMessage(409, { error: 'identity_exists' })).toBe('identity_exists (HTTP 409)');
    expect(refusalMessage(502, 'bad gateway')).toBe('the service answered HTTP 502 without an explanation');
  });
});

describe('formatMatchedOn', () => {
  it('says what the face was matched on, or nothing when the server does not say', () => {
    expect(formatMatchedOn('upper-face')).toBe('Upper face only');
    expect(formatMatchedOn('face')).toBe('Whole face');
    expect(formatMatchedOn(undefined)).toBeUndefined();
  });
});

describe('formatOccluded', () => {
  it('says the covered share, clamped, or nothing without a fraction', () => {
    expect(formatOccluded(0.374)).toBe('37 % covered');
    expect(formatOccluded(1.2)).toBe('100 % covered');
    expect(formatOccluded(undefined)).toBeUndefined();
  });
});
