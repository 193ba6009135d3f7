import { describe, expect, it } from 'vitest';
import { FilterError, matches, parseFilterQuery, parseSubscribeMessage, type AlertFilter } from '../../src/alert/filter.ts';

const query = (text: string) => parseFilterQuery(new URLSearchParams(text));

function filterError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FilterError);
    return (err as Error).message;
  }
  throw new Error('expected a FilterError');
}

const anyFilter: AlertFilter = { cameras: null, identities: null, includeUnknown: false, minScore: null };
const alice = { camera: 'door', identity: { id: 1, name: 'Alice' }, score: 0.95 };
const bob = { camera: 'hall', identity: { id: 2, name: 'Bob' }, score: 0.91 };
const stranger = { camera: 'door', identity: null, score: 0.4 };

describe('parseFilterQuery', () => {
  it('reads every filter, ids as numbers and names as text', () => {
    expect(query('cameras=door,hall&identities=1,Alice&unknown=true&minScore=0.9&api_key=k')).toEqual({
      cameras: ['door', 'hall'],
      identities: [1, 'Alice'],
      includeUnknown: true,
      minScore: 0.9,
    });
  });

  it('defaults to every known identity from every camera, no unknowns', () => {
    expect(query('')).toEqual(anyFilter);
  });

  it('joins a repeated parameter and trims values', () => {
    expect(query('cameras=door&cameras= hall ').cameras).toEqual(['door', 'hall']);
    expect(query('unknown=1').includeUnknown).toBe(true);
    expect(query('unknown=false').includeUnknown).toBe(false);
  });

  it('names each bad parameter and says what it expects', () => {
    const message = filterError(() => query('minScore=abc&unknown=maybe&cameras=door,,hall&identities=0'));
    expect(message).toContain('minScore: expected a number between -1 and 1');
    expect(message).toContain('unknown: expected true or false');
    expect(message).toContain('cameras.1: a camera name must not be empty');
    expect(message).toContain('identities.0: an identity is a positive integer id or a non-empty name');
    expect(filterError(() => query('minScore=2'))).toContain('minScore: a cosine score is at most 1');
    expect(filterError(() => query('minScore='))).toContain('minScore: expected a number');
  });

  it('refuses a misspelt parameter instead of ignoring it', () => {
    expect(filterError(() => query('camera=door'))).toContain('camera: unknown parameter');
  });
});

describe('parseSubscribeMessage', () => {
  it('replaces the whole filter, absent fields taking their defaults', () => {
    expect(parseSubscribeMessage({ type: 'subscribe', identities: [2, 'Bob', '7'], minScore: 0.5 })).toEqual({
      cameras: null,
      identities: [2, 'Bob', 7],
      includeUnknown: false,
      minScore: 0.5,
    });
    expect(parseSubscribeMessage({ type: 'subscribe', cameras: null, includeUnknown: true })).toEqual({ ...anyFilter, includeUnknown: true });
  });

  it('names the bad field, and refuses unknown fields, empty lists and other message types', () => {
    expect(filterError(() => parseSubscribeMessage({ type: 'subscribe', cameras: 'door' }))).toContain('cameras: Invalid input: expected array');
    expect(filterError(() => parseSubscribeMessage({ type: 'subscribe', minScore: '0.9' }))).toContain('minScore: expected a number');
    expect(filterError(() => parseSubscribeMessage({ type: 'subscribe', camera: ['door'] }))).toContain('Unrecognized key: "camera"');
    expect(filterError(() => parseSubscribeMessage({ type: 'subscribe', identities: [] }))).toContain('identities: a non-empty list');
    expect(filterError(() => parseSubscribeMessage({ type: 'unsubscribe' }))).toContain('type: Invalid input: expected "subscribe"');
    expect(filterError(() => parseSubscribeMessage([]))).toContain('expected object');
  });
});

describe('matches', () => {
  it('passes every known identity and no unknown by default', () => {
    expect(matches(anyFilter, alice)).toBe(true);
    expect(matches(anyFilter, bob)).toBe(true);
    expect(matches(anyFilter, stranger)).toBe(false);
  });

  it('filters by camera, known and unknown alike', () => {
    const doorOnly = { ...anyFilter, cameras: ['door'], includeUnknown: true };
    expect(matches(doorOnly, alice)).toBe(true);
    expect(matches(doorOnly, bob)).toBe(false);
    expect(matches(doorOnly, stranger)).toBe(true);
    expect(matches(doorOnly, { ...stranger, camera: 'hall' })).toBe(false);
  });

  it('matches identities by id (number) or exact name (text)', () => {
    expect(matches({ ...anyFilter, identities: [1] }, alice)).toBe(true);
    expect(matches({ ...anyFilter, identities: [1] }, bob)).toBe(false);
    expect(matches({ ...anyFilter, identities: ['Bob'] }, bob)).toBe(true);
    expect(matches({ ...anyFilter, identities: ['bob'] }, bob)).toBe(false);
    expect(matches({ ...anyFilter, identities: ['Bob'] }, alice)).toBe(false);
  });

  it('adds unknown faces when asked, even with an identity list', () => {
    expect(matches({ ...anyFilter, identities: [1], includeUnknown: true }, stranger)).toBe(true);
    expect(matches({ ...anyFilter, identities: [1], includeUnknown: true }, bob)).toBe(false);
  });

  it('applies minScore to known identities only, inclusively', () => {
    const strict = { ...anyFilter, minScore: 0.93, includeUnknown: true };
    expect(matches(strict, alice)).toBe(true);
    expect(matches(strict, bob)).toBe(false);
    expect(matches(strict, { ...bob, score: 0.93 })).toBe(true);
    expect(matches(strict, stranger)).toBe(true);
  });
});
