// Identity names: one spelling per person. A name is stored as the user typed it, made canonical
// (Unicode NFC, invisible characters removed, spaces collapsed); two names are the same identity when
// their keys are equal (compatibility forms folded, case folded: "ÅSA" is "åsa", "José" in NFD is "José"
// in NFC). Pure functions, so that every gallery store compares names the same way.

export const MAX_NAME_LENGTH = 100;

/**
 * Characters that show nothing but change a string: zero-width spaces and joiners, the word joiner,
 * the byte-order mark, the soft hyphen, and the bidirectional controls (an RLO can make "Ada" display
 * as another name).
 */
const INVISIBLE = /[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export type NameCheck = { ok: true; name: string } | { ok: false; why: string };

/** The canonical form of a name, or why it is refused (not a string, empty, too long, control characters, broken UTF-16). */
export function canonicalName(raw: unknown): NameCheck {
  if (typeof raw !== 'string') return { ok: false, why: `a name must be a string, got ${raw === null ? 'null' : typeof raw}` };
  // A lone surrogate cannot be stored as UTF-8: it would come back as something else.
  if (/\p{Cs}/u.test(raw)) return { ok: false, why: 'the name contains a lone UTF-16 surrogate (broken Unicode)' };
  if (CONTROL.test(raw)) return { ok: false, why: 'control characters (newlines, tabs…) are not allowed' };
  const name = raw.normalize('NFC').replace(INVISIBLE, '').replace(/\s+/gu, ' ').trim();
  if (!name) return { ok: false, why: 'the name is empty' };
  if ([...name].length > MAX_NAME_LENGTH) return { ok: false, why: `${[...name].length} characters, at most ${MAX_NAME_LENGTH} allowed` };
  return { ok: true, name };
}

/**
 * What two names must share to be the same identity: the canonical name with compatibility forms folded
 * (NFKC: "ﬁ" is "fi", full-width "Ａ" is "A") and case folded (upper then lower: "ß" is "ss").
 */
export function nameKey(canonical: string): string {
  return canonical.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFC');
}

/**
 * Keys for names stored before keys existed: the first of a group of names that share a key keeps it;
 * each later one (by id) gets a key of its own, so that neither identity is lost or merged. Returns the
 * key of every id and the groups that collided (for the log).
 */
export function keysForExisting(rows: readonly { id: number; name: string }[]): { keys: Map<number, string>; collisions: { key: string; ids: number[] }[] } {
  const keys = new Map<number, string>();
  const byKey = new Map<string, number[]>();
  for (const row of [...rows].sort((a, b) => a.id - b.id)) {
    const check = canonicalName(row.name);
    const key = nameKey(check.ok ? check.name : row.name);
    const ids = byKey.get(key) ?? [];
    ids.push(row.id);
    byKey.set(key, ids);
    // U+001F cannot be in a name (control characters are refused), so no new name can take this key.
    keys.set(row.id, ids.length === 1 ? key : `${key}\u001f${row.id}`);
  }
  const collisions = [...byKey].filter(([, ids]) => ids.length > 1).map(([key, ids]) => ({ key, ids }));
  return { keys, collisions };
}
