// The History and Train tabs' pure decisions: the events query of a filter, attempts grouped by the
// name they came closest to, feedback in words.
import { describe, expect, it } from 'vitest';
import { eventsQuery, eventTitle, feedbackText, groupAttempts, localToIso, type EventView } from '../../web/src/events-logic.ts';

let id = 1;
function attempt(identity: EventView['identity'], score: number): EventView {
  return {
    id: id++, kind: 'attempt', camera: 'door', trackId: 1, identity, known: false, score, votes: 1, matchedOn: 'face',
    frameTime: new Date().toISOString(), box: { x: 0, y: 0, width: 10, height: 10 }, images: { face: '/f.jpg' },
  };
}

describe('events logic', () => {
  it('makes the query of a filter, leaving out what is not set', () => {
    expect(eventsQuery('alert', {})).toBe('kind=alert');
    const q = new URLSearchParams(eventsQuery('alert', { camera: 'door', identity: '3', known: 'false', since: '2024-06-01T08:00', until: '' }, { cursor: 'abc', limit: 30 }));
    expect(Object.fromEntries(q)).toEqual({ kind: 'alert', camera: 'door', identity: '3', known: 'false', since: new Date('2024-06-01T08:00').toISOString(), limit: '30', cursor: 'abc' });
    expect(new URLSearchParams(eventsQuery('attempt', { known: 'maybe' })).has('known')).toBe(false);
    expect(localToIso('not a time')).toBeUndefined();
  });

  it('groups attempts by the name they came closest to: the largest groups first, nobody last', () => {
    const ada = { id: 1, name: 'Ada' }, bob = { id: 2, name: 'Bob' };
    const groups = groupAttempts([attempt(null, -1), attempt(ada, 0.2), attempt(bob, 0.3), attempt(bob, 0.35), attempt(ada, 0.25), attempt(bob, 0.1)]);
    expect(groups.map((g) => [g.identity?.name ?? null, g.attempts.length, g.best])).toEqual([
      ['Bob', 3, 0.35],
      ['Ada', 2, 0.25],
      [null, 1, -1],
    ]);
    expect(groups[0].attempts.map((a) => a.score)).toEqual([0.1, 0.35, 0.3]); // newest first
  });

  it('words feedback and titles', () => {
    const identity = { id: 1, name: 'Ada' };
    expect(feedbackText({ action: 'is', identity, sampleId: 1, at: '' })).toBe('Added as a photo of Ada');
    expect(feedbackText({ action: 'not', identity, sampleId: 1, at: '' })).toBe('Marked: not Ada (a negative sample of Ada)');
    expect(feedbackText({ action: 'new', identity, sampleId: 1, at: '' })).toBe('Added as a new person: Ada');
    expect(feedbackText(undefined)).toBeUndefined();
    expect(eventTitle({ kind: 'alert', identity: null, known: false })).toBe('Unknown face');
    expect(eventTitle({ kind: 'attempt', identity, known: false })).toBe('Closest: Ada');
  });
});
