import { describe, expect, it } from 'vitest';
import { iou } from '../../src/align/box.ts';
import { IouTracker } from '../../src/track/tracker.ts';
import type { Box, DetectedFace } from '../../src/types.ts';

const face = (x: number, y: number, size = 60, score = 0.9): DetectedFace => ({
  box: { x, y, width: size, height: size },
  score,
  landmarks: [],
});
const ids = (tracker: IouTracker, faces: DetectedFace[], time: number) => tracker.update(faces, time).tracks.map((t) => t.trackId);

describe('iou', () => {
  const a: Box = { x: 0, y: 0, width: 10, height: 10 };

  it('is 1 for identical boxes and 0 for disjoint or edge-touching ones', () => {
    expect(iou(a, { ...a })).toBe(1);
    expect(iou(a, { x: 20, y: 20, width: 10, height: 10 })).toBe(0);
    expect(iou(a, { x: 10, y: 0, width: 10, height: 10 })).toBe(0);
  });

  it('computes intersection over union', () => {
    // Half-shifted: intersection 50, union 150.
    expect(iou(a, { x: 5, y: 0, width: 10, height: 10 })).toBeCloseTo(1 / 3, 12);
    // Quarter overlap on both axes: intersection 25, union 175.
    expect(iou(a, { x: 5, y: 5, width: 10, height: 10 })).toBeCloseTo(25 / 175, 12);
    // Contained: 4 / 100.
    expect(iou(a, { x: 3, y: 3, width: 2, height: 2 })).toBeCloseTo(0.04, 12);
  });

  it('is symmetric and 0 for empty boxes', () => {
    const b: Box = { x: 3, y: -2, width: 9, height: 7 };
    expect(iou(a, b)).toBe(iou(b, a));
    expect(iou(a, { x: 2, y: 2, width: 0, height: 5 })).toBe(0);
  });
});

describe('IouTracker', () => {
  const options = { iouThreshold: 0.3, maxAgeMs: 1000 };

  it('keeps a moving face on one track and reports detections in input order', () => {
    const tracker = new IouTracker(options);
    const first = tracker.update([face(100, 100), face(400, 100)], 0).tracks;
    expect(first.map((t) => [t.trackId, t.isNew])).toEqual([[1, true], [2, true]]);
    // Input order reversed and both moved a little: ids follow the faces, not the positions in the list.
    const second = tracker.update([face(410, 104), face(108, 96)], 200).tracks;
    expect(second.map((t) => [t.trackId, t.isNew, t.firstSeen])).toEqual([[2, false, 0], [1, false, 0]]);
    expect(tracker.size).toBe(2);
  });

  it('follows two faces that cross each other', () => {
    const tracker = new IouTracker(options);
    // A goes right, B goes left, 30 px apart vertically, 12 px per frame: their boxes overlap while they pass.
    const seen: number[][] = [];
    for (let step = 0; step <= 20; step++) {
      const a = face(100 + 12 * step, 100);
      const b = face(340 - 12 * step, 130);
      seen.push(ids(tracker, [a, b], step * 200));
    }
    expect(seen.every(([a, b]) => a === 1 && b === 2)).toBe(true);
  });

  it('assigns the highest-IoU pair first, not the first detection to its best track', () => {
    const tracker = new IouTracker(options);
    ids(tracker, [face(0, 0, 100), face(40, 0, 100)], 0);
    // d0 (x=25) overlaps track 2 (0.74) more than track 1 (0.6), so taking detections in order would give
    // d0 → 2 and d1 → 1 (0.38). But d1 (x=45) with track 2 is the best pair (0.905): 2 takes d1, 1 takes d0.
    expect(ids(tracker, [face(25, 0, 100), face(45, 0, 100)], 100)).toEqual([1, 2]);
  });

  it('does not join boxes at or below the IoU threshold', () => {
    const tracker = new IouTracker({ iouThreshold: 1 / 3, maxAgeMs: 1000 });
    ids(tracker, [face(0, 0, 10)], 0);
    // IoU exactly 1/3 (half-shifted): not above the threshold, so a new track.
    const [next] = tracker.update([face(5, 0, 10)], 100).tracks;
    expect(next).toMatchObject({ trackId: 2, isNew: true });
  });

  it('closes tracks unseen for maxAgeMs and never reuses their ids', () => {
    const tracker = new IouTracker(options);
    ids(tracker, [face(100, 100), face(400, 100)], 0);
    // Track 1 is seen again at 900, track 2 is not.
    expect(tracker.update([face(102, 100)], 900)).toEqual({ tracks: [expect.objectContaining({ trackId: 1 })], closed: [] });
    // At 1000 track 2 has been unseen for maxAgeMs: closed before matching, so a face where it was opens track 3.
    const update = tracker.update([face(400, 100)], 1000);
    expect(update.closed).toEqual([2]);
    expect(update.tracks.map((t) => [t.trackId, t.isNew])).toEqual([[3, true]]);
    // Track 1 (last seen 900) is still live at 1899 and closed at 1900.
    expect(tracker.expire(1899)).toEqual([]);
    expect(tracker.expire(1900)).toEqual([1]);
    expect(tracker.size).toBe(1);
  });

  it('keeps ids increasing across closeAll (a camera that reconnects)', () => {
    const tracker = new IouTracker(options);
    ids(tracker, [face(0, 0), face(200, 0)], 0);
    expect(tracker.closeAll().sort()).toEqual([1, 2]);
    expect(tracker.size).toBe(0);
    expect(ids(tracker, [face(0, 0)], 100)).toEqual([3]);
  });

  it('holds only the tracks of the last maxAgeMs', () => {
    const tracker = new IouTracker(options);
    // A new face at a new place every 100 ms, each seen once: ten are live at a time at most.
    for (let i = 0; i < 100; i++) tracker.update([face((i % 10) * 70, Math.floor(i / 10) * 70)], i * 100);
    expect(tracker.size).toBe(10);
  });

  it('opens no track and closes stale ones on a frame without faces', () => {
    const tracker = new IouTracker(options);
    ids(tracker, [face(0, 0)], 0);
    expect(tracker.update([], 500)).toEqual({ tracks: [], closed: [] });
    expect(tracker.update([], 1000)).toEqual({ tracks: [], closed: [1] });
  });

  it('refuses bad settings and times', () => {
    expect(() => new IouTracker({ iouThreshold: 1, maxAgeMs: 10 })).toThrow(/iouThreshold must be in \[0, 1\)/);
    expect(() => new IouTracker({ iouThreshold: 0.3, maxAgeMs: 0 })).toThrow(/maxAgeMs must be positive/);
    expect(() => new IouTracker(options).update([], NaN)).toThrow(/time must be a finite/);
  });
});
