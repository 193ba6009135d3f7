// The event history's store: filters and pages, the attempts bound, retention, and deletion that
// leaves no bytes of a deleted face in the file.
import { readFileSync, existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, EventStore, type NewEvent } from '../../src/events/store.ts';
import { landmarksFor, tempDir } from './gallery-fakes.ts';

const DAY = 86_400_000;
const NOW = Date.parse('2024-06-01T12:00:00Z');

function event(overrides: Partial<NewEvent> = {}): NewEvent {
  const box = { x: 10, y: 10, width: 60, height: 60 };
  return {
    kind: 'alert',
    camera: 'door',
    trackId: 1,
    identity: { id: 1, name: 'Ada' },
    known: true,
    score: 0.8,
    votes: 3,
    matchedOn: 'face',
    frameTime: NOW,
    box,
    detectorScore: 0.9,
    faceJpeg: Buffer.from('face'),
    source: { jpeg: Buffer.from('source'), box, landmarks: landmarksFor(box) },
    ...overrides,
  };
}

describe('EventStore', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: EventStore;
  let path: string;

  beforeEach(() => {
    tmp = tempDir();
    path = tmp.file('nested/events.db');
    store = EventStore.open(path);
  });
  afterEach(() => {
    store.close();
    tmp.remove();
  });

  it('stores an event with its crops, and says which it has', () => {
    const stored = store.add(event({ occludedFraction: 0.4, inpaintedJpeg: Buffer.from('inpainted'), maskPng: Buffer.from('mask'), matchedOn: 'upper-face' }));
    expect(stored).toMatchObject({
      kind: 'alert', camera: 'door', trackId: 1, identity: { id: 1, name: 'Ada' }, known: true, score: 0.8, votes: 3,
      matchedOn: 'upper-face', occludedFraction: 0.4, frameTime: new Date(NOW).toISOString(),
      images: { face: true, inpainted: true, mask: true, source: true },
    });
    expect(store.image(stored.id, 'inpainted')!.toString()).toBe('inpainted');
    expect(store.image(stored.id, 'mask')!.toString()).toBe('mask');
    expect(store.source(stored.id)).toMatchObject({ jpeg: Buffer.from('source'), box: { width: 60 }, detectorScore: 0.9 });
    expect(store.source(stored.id)!.landmarks).toHaveLength(68);
    const bare = store.add(event({ identity: null, known: false, source: undefined }));
    expect(bare.images).toEqual({ face: true, inpainted: false, mask: false, source: false });
    expect(store.image(bare.id, 'inpainted')).toBeUndefined();
    expect(store.source(bare.id)).toBeUndefined();
    expect(store.secureDelete()).toBe(1);
  });

  it('filters by kind, camera, identity, known and time, newest first, page by page', () => {
    for (let i = 0; i < 25; i++)
      store.add(event({ camera: i % 2 ? 'yard' : 'door', identity: i % 5 === 0 ? null : { id: 1 + (i % 3), name: `p${1 + (i % 3)}` }, known: i % 5 !== 0, frameTime: NOW - i * 60_000, trackId: i }));
    store.add(event({ kind: 'attempt', trackId: 99 }));
    const ids = (page: { events: { trackId: number }[] }) => page.events.map((e) => e.trackId);

    expect(store.list().events).toHaveLength(25);
    expect(ids(store.list({ kind: 'attempt' }))).toEqual([99]);
    expect(ids(store.list({ camera: 'yard', limit: 100 }))).toEqual([23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1]);
    expect(ids(store.list({ known: false }))).toEqual([20, 15, 10, 5, 0]);
    expect(ids(store.list({ identityId: 2 })).every((t) => t % 3 === 1 && t % 5 !== 0)).toBe(true);
    expect(ids(store.list({ since: NOW - 3 * 60_000, until: NOW }))).toEqual([3, 2, 1]);

    const first = store.list({ limit: 10 });
    expect(ids(first)).toEqual([24, 23, 22, 21, 20, 19, 18, 17, 16, 15]);
    const second = store.list({ limit: 10, cursor: first.nextCursor! });
    expect(ids(second)).toEqual([14, 13, 12, 11, 10, 9, 8, 7, 6, 5]);
    const third = store.list({ limit: 10, cursor: second.nextCursor! });
    expect(ids(third)).toEqual([4, 3, 2, 1, 0]);
    expect(third.nextCursor).toBeNull();
    expect(() => store.list({ cursor: 'nonsense' })).toThrow(/cursor/);
    expect(decodeCursor(encodeCursor(42))).toBe(42);
  });

  it('keeps only the newest keepAttempts attempts', () => {
    for (let i = 1; i <= 8; i++) store.add(event({ kind: 'attempt', trackId: i }), 5);
    store.add(event({ kind: 'alert', trackId: 100 }), 5);
    expect(store.list({ kind: 'attempt' }).events.map((e) => e.trackId)).toEqual([8, 7, 6, 5, 4]);
    expect(store.count('alert')).toBe(1);
  });

  it('enforces retention: age, the most alerts, the most attempts, and identities gone from the gallery', () => {
    store.add(event({ frameTime: NOW - 40 * DAY, trackId: 1 }));
    store.add(event({ frameTime: NOW - 10 * DAY, trackId: 2 }));
    store.add(event({ frameTime: NOW - 1 * DAY, trackId: 3 }));
    store.add(event({ frameTime: NOW, trackId: 4, identity: { id: 9, name: 'Gone' } }));
    store.add(event({ frameTime: NOW, trackId: 5, identity: null, known: false }));
    for (let i = 0; i < 4; i++) store.add(event({ kind: 'attempt', frameTime: NOW, trackId: 10 + i }));
    const report = store.sweep({ retentionDays: 30, maxEvents: 3, keepAttempts: 2 }, NOW, [1]);
    expect(report).toEqual({ expired: 1, overLimit: 1 + 2, orphaned: 1 });
    expect(store.list().events.map((e) => e.trackId)).toEqual([5, 3]);
    expect(store.list({ kind: 'attempt' }).events.map((e) => e.trackId)).toEqual([13, 12]);
    // Nothing more to do.
    expect(store.sweep({ retentionDays: 30, maxEvents: 3, keepAttempts: 2 }, NOW, [1])).toEqual({ expired: 0, overLimit: 0, orphaned: 0 });
    // 0 days: no age limit.
    store.add(event({ frameTime: NOW - 400 * DAY, trackId: 6 }));
    expect(store.sweep({ retentionDays: 0, maxEvents: 10, keepAttempts: 2 }, NOW).expired).toBe(0);
  });

  it("deletes an identity's events, those its feedback named too, and leaves none of their bytes in the file", () => {
    const marker = (s: string) => Buffer.from(`\xff\xd8${s}-${'z'.repeat(200)}`, 'latin1');
    const named = store.add(event({ faceJpeg: marker('ADA-FACE'), source: { jpeg: marker('ADA-SOURCE'), box: event().box, landmarks: landmarksFor(event().box) } }));
    const assigned = store.add(event({ kind: 'attempt', identity: { id: 2, name: 'Bob' }, faceJpeg: marker('ASSIGNED-FACE') }));
    store.setFeedback(assigned.id, { action: 'is', identity: { id: 1, name: 'Ada' }, sampleId: 5, at: new Date().toISOString() });
    const other = store.add(event({ identity: { id: 2, name: 'Bob' }, faceJpeg: marker('BOB-FACE') }));
    const fileBytes = () => Buffer.concat([readFileSync(path), ...(existsSync(`${path}-wal`) ? [readFileSync(`${path}-wal`)] : [])]);
    expect(fileBytes().includes('ADA-FACE')).toBe(true);

    expect(store.deleteIdentity(1)).toBe(2);
    expect(store.get(named.id)).toBeUndefined();
    expect(store.get(assigned.id)).toBeUndefined();
    expect(store.get(other.id)).toBeDefined();
    const bytes = fileBytes();
    for (const gone of ['ADA-FACE', 'ADA-SOURCE', 'ASSIGNED-FACE']) expect(bytes.includes(gone), gone).toBe(false);
    expect(bytes.includes('BOB-FACE')).toBe(true);

    expect(store.delete(other.id)).toBe(true);
    expect(store.delete(other.id)).toBe(false);
    expect(fileBytes().includes('BOB-FACE')).toBe(false);
  });
});
