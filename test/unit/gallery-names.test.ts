import { describe, expect, it } from 'vitest';
import { canonicalName, keysForExisting, MAX_NAME_LENGTH, nameKey } from '../../src/gallery/names.ts';

const canonical = (raw: unknown) => {
  const check = canonicalName(raw);
  if (!check.ok) throw new Error(check.why);
  return check.name;
};
const refusal = (raw: unknown) => {
  const check = canonicalName(raw);
  return check.ok ? `accepted as ${JSON.stringify(check.name)}` : check.why;
};
const key = (raw: string) => nameKey(canonical(raw));

describe('identity names', () => {
  it('stores one spelling: NFC, invisible characters and bidi controls removed, spaces collapsed', () => {
    expect(canonical('  Ada   Lovelace ')).toBe('Ada Lovelace');
    expect(canonical('Ada\u200b Lovelace')).toBe('Ada Lovelace');
    expect(canonical('\ufeffAda\u2060 Love\u00adlace\u200d')).toBe('Ada Lovelace');
    expect(canonical('Jose\u0301')).toBe('Jos\u00e9');
    expect(canonical('\u202eecalevoL adA')).toBe('ecalevoL adA');
    expect(canonical('Ada \u2066Byron\u2069')).toBe('Ada Byron');
  });

  it('refuses non-strings, lone surrogates, control characters, empty and overlong names, saying why', () => {
    expect(refusal(5)).toMatch(/must be a string, got number/);
    expect(refusal(null)).toMatch(/got null/);
    expect(refusal(['Ada'])).toMatch(/must be a string/);
    expect(refusal('Ada \ud800')).toMatch(/lone UTF-16 surrogate/);
    expect(refusal('\udc00Ada')).toMatch(/lone UTF-16 surrogate/);
    expect(refusal('Ada\nLovelace')).toMatch(/control characters/);
    expect(refusal('\u200b\u200e ')).toMatch(/empty/);
    expect(refusal('x'.repeat(MAX_NAME_LENGTH + 1))).toMatch(/at most 100/);
    // A whole astral character is fine, and counts as one.
    expect([...canonical(`Ada 😀${'a'.repeat(MAX_NAME_LENGTH - 5)}`)]).toHaveLength(MAX_NAME_LENGTH);
  });

  it('gives names that differ in case, normal form or compatibility form one key', () => {
    expect(key('ÅSA')).toBe(key('åsa'));
    expect(key('Jose\u0301')).toBe(key('José'));
    expect(key('STRASSE')).toBe(key('Straße'));
    expect(key('Ａｄａ')).toBe(key('ada'));
    expect(key('Ada\u200b Lovelace')).toBe(key('ada lovelace'));
    expect(key('Ada Lovelace')).not.toBe(key('Ada Byron'));
    expect(key('Åsa')).not.toBe(key('Asa'));
  });

  it('keys names stored before keys existed without merging or losing anyone', () => {
    const { keys, collisions } = keysForExisting([
      { id: 3, name: 'åsa' },
      { id: 1, name: 'ÅSA' },
      { id: 2, name: 'Ada Lovelace' },
      { id: 4, name: 'Ada\u200b Lovelace' },
      { id: 5, name: 'Grace' },
    ]);
    expect(new Set(keys.values()).size).toBe(5);
    expect(keys.get(1)).toBe(nameKey('ÅSA'));
    expect(keys.get(2)).toBe('ada lovelace');
    expect(keys.get(3)).not.toBe(keys.get(1));
    expect(collisions).toEqual([
      { key: nameKey('ÅSA'), ids: [1, 3] },
      { key: 'ada lovelace', ids: [2, 4] },
    ]);
  });
});
