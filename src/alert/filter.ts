// What one WebSocket subscriber wants to receive: parsed from the /alerts query string at connect
// or from a `subscribe` message later, and applied to every alert (pure, no I/O).
import { z } from 'zod';
import type { AlertMessage } from './message.ts';

/**
 * A subscriber's filter. `null` means "any". An identity token of digits is an identity id,
 * anything else an identity name (matched exactly). `minScore` applies to known identities only:
 * an unknown face's score is by definition below the unknown threshold, so a minimum would hide
 * every unknown that `includeUnknown` asked for.
 */
export interface AlertFilter {
  cameras: string[] | null;
  identities: Array<number | string> | null;
  includeUnknown: boolean;
  minScore: number | null;
}

export class FilterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FilterError';
  }
}

const cameraName = z.string().trim().min(1, 'a camera name must not be empty');

// Digits are an id; any other text is a name.
const identityHint = 'an identity is a positive integer id or a non-empty name';
const identityToken = z.union(
  [
    z.number().int().positive(identityHint),
    z
      .string()
      .trim()
      .min(1, identityHint)
      .transform((token) => (/^\d+$/.test(token) ? Number(token) : token))
      .refine((token) => token !== 0, identityHint),
  ],
  { error: identityHint },
);

const score = z
  .number({ error: 'expected a number between -1 and 1' })
  .min(-1, 'a cosine score is at least -1')
  .max(1, 'a cosine score is at most 1');

const listHint = 'a non-empty list: omit the field (or send null) to receive all';

/** A `{ "type": "subscribe", ... }` message: it replaces the whole filter; absent fields take their defaults. */
const subscribeMessage = z.strictObject({
  type: z.literal('subscribe'),
  cameras: z.array(cameraName).min(1, listHint).nullish(),
  identities: z.array(identityToken).min(1, listHint).nullish(),
  includeUnknown: z.boolean().optional(),
  minScore: score.nullish(),
});

const booleanText = z.enum(['true', 'false', '1', '0'], { error: 'expected true or false' }).transform((v) => v === 'true' || v === '1');

// Number('') is 0, so an empty value must be refused before the conversion.
const scoreText = z.string().trim().min(1, 'expected a number between -1 and 1').transform(Number).pipe(score);

/** Query parameters that are not filters but may appear on the /alerts URL. */
const NON_FILTER_PARAMS = new Set(['api_key', 'after']);
const FILTER_PARAMS = ['cameras', 'identities', 'unknown', 'minScore'] as const;

function describeIssues(error: z.ZodError, prefix = ''): string {
  return error.issues
    .map((issue) => {
      const field = `${prefix}${issue.path.join('.')}`.replace(/\.$/, '');
      return field ? `${field}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

/** Comma-separated values of one parameter; a repeated parameter adds to the list. */
function listParam(query: URLSearchParams, name: string): string[] | null {
  const values = query.getAll(name);
  if (values.length === 0) return null;
  return values.flatMap((value) => value.split(','));
}

/**
 * Parses the filter from the /alerts query: `cameras=a,b`, `identities=1,Alice`, `unknown=true`,
 * `minScore=0.9`. Throws FilterError naming the bad parameter (including unknown parameters, so that a
 * misspelt filter is refused rather than silently ignored).
 */
export function parseFilterQuery(query: URLSearchParams): AlertFilter {
  const problems: string[] = [];
  for (const key of new Set(query.keys())) {
    if (!NON_FILTER_PARAMS.has(key) && !(FILTER_PARAMS as readonly string[]).includes(key))
      problems.push(`${key}: unknown parameter (filters are ${FILTER_PARAMS.join(', ')})`);
  }

  const parsed = {
    cameras: parseParam(z.array(cameraName).min(1, listHint).nullable(), listParam(query, 'cameras'), 'cameras', problems),
    identities: parseParam(z.array(identityToken).min(1, listHint).nullable(), listParam(query, 'identities'), 'identities', problems),
    includeUnknown: parseParam(booleanText.nullable(), query.get('unknown'), 'unknown', problems),
    minScore: parseParam(scoreText.nullable(), query.get('minScore'), 'minScore', problems),
  };
  if (problems.length) throw new FilterError(`invalid alert filter: ${problems.join('; ')}`);
  return {
    cameras: parsed.cameras ?? null,
    identities: parsed.identities ?? null,
    includeUnknown: parsed.includeUnknown ?? false,
    minScore: parsed.minScore ?? null,
  };
}

function parseParam<T>(schema: z.ZodType<T>, value: unknown, name: string, problems: string[]): T | undefined {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  problems.push(describeIssues(result.error, `${name}.`));
  return undefined;
}

/**
 * Parses a subscribe message (already JSON-decoded). Throws FilterError naming the bad field.
 * The message replaces the whole filter, so a client always knows exactly what it will receive.
 */
export function parseSubscribeMessage(message: unknown): AlertFilter {
  const result = subscribeMessage.safeParse(message);
  if (!result.success) throw new FilterError(`invalid subscribe message: ${describeIssues(result.error)}`);
  const m = result.data;
  return {
    cameras: m.cameras ?? null,
    identities: m.identities ?? null,
    includeUnknown: m.includeUnknown ?? false,
    minScore: m.minScore ?? null,
  };
}

/** Whether `alert` passes `filter`. */
export function matches(filter: AlertFilter, alert: Pick<AlertMessage, 'camera' | 'identity' | 'score'>): boolean {
  if (filter.cameras !== null && !filter.cameras.includes(alert.camera)) return false;
  const identity = alert.identity;
  if (identity === null) return filter.includeUnknown;
  if (filter.minScore !== null && alert.score < filter.minScore) return false;
  if (filter.identities === null) return true;
  return filter.identities.some((token) => (typeof token === 'number' ? token === identity.id : token === identity.name));
}
