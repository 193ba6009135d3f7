// Train/validation split by identity: every image of a person falls on the same side, so that
// validation measures faces of people the model never saw.
import { createHash } from 'node:crypto';
import type { Split } from './index-file.ts';

/**
 * The side an identity falls on. A seeded hash of the identity alone decides it, so the answer
 * does not depend on which images a run processes (`--limit`, resumed runs) or in what order.
 */
export function splitOf(identity: string, seed: number, valFraction: number): Split {
  if (!(valFraction >= 0 && valFraction <= 1)) throw new RangeError(`valFraction must be within [0, 1], got ${valFraction}`);
  const digest = createHash('sha256').update(`${seed}:${identity}`).digest();
  return digest.readUInt32BE(0) / 2 ** 32 < valFraction ? 'val' : 'train';
}
