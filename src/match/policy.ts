// How a face is matched against the gallery, as one typed object built from the config: the
// thresholds, the margin an occluded face must clear, the upper-face scale, what to alert.
import type { Config } from '../config.ts';
import type { EmbeddedFace, MatchedOn } from '../pipeline/messages.ts';
import type { Identity } from '../types.ts';
import type { AlertPolicy } from './decide.ts';

export interface MatchPolicy extends AlertPolicy {
  /** Best matches per identity asked of the gallery. */
  topK: number;
  /** Subtracted from a repaired (covered) face's similarity before it votes. */
  occludedMargin: number;
  /** The upper-face recognizer's own threshold (match.upperFace.threshold), moved onto `threshold`. */
  upperFaceThreshold: number;
  /** An upper-face match must beat the next identity's by this much to be trusted (match.upperFace.margin). */
  upperFaceMargin: number;
}

export function matchPolicy(config: Pick<Config, 'match' | 'track'>): MatchPolicy {
  const m = config.match;
  return {
    threshold: m.threshold,
    unknownThreshold: m.unknownThreshold,
    alertUnknown: m.alertUnknown,
    maxAttempts: config.track.maxAttempts,
    topK: m.topK,
    occludedMargin: m.occludedMargin,
    upperFaceThreshold: m.upperFace.threshold,
    upperFaceMargin: m.upperFace.margin,
  };
}

/** How far under the threshold an ambiguous match is held: it votes, but cannot name anyone. */
const UNDECIDED_BELOW = 1e-6;

export interface GalleryMatch {
  identity: Identity;
  score: number;
}

export interface GalleryMatcher {
  /** Best match per identity, best first. */
  search(embedding: Float32Array, k: number): GalleryMatch[];
  /** The same over the gallery's upper-face embeddings (absent: no upper-face matching). */
  searchUpperFace?(embedding: Float32Array, k: number): GalleryMatch[];
  /** The identity of an id, or undefined once it has been deleted. */
  identity(id: number): Identity | undefined;
}

/**
 * Another recognizer's cosine on the main recognizer's scale: piecewise linear, `fromThreshold` onto
 * `toThreshold`, −1 and 1 fixed, so one vote and one alert threshold serve both and scores stay in −1…1.
 */
export function ontoMainScale(cos: number, fromThreshold: number, toThreshold: number): number {
  return cos >= fromThreshold
    ? toThreshold + ((cos - fromThreshold) * (1 - toThreshold)) / (1 - fromThreshold)
    : -1 + ((cos + 1) * (toThreshold + 1)) / (fromThreshold + 1);
}

/**
 * The best gallery match of one face, by its route. `upper-face`: its upper-face embedding alone, that
 * cosine moved onto the main scale (on masked faces the whole-face matches name more strangers and
 * more wrong people than they add right names: docs/occlusion.md); a match that beats the next identity
 * by less than `upperFaceMargin` is ambiguous (a look-alike in the gallery), and its score is held just
 * under `threshold`: undecided. Otherwise the highest score over its embeddings (repaired and, when
 * present, as it came), a `repaired` face's less the occluded margin. `embedding` is the main
 * recognizer's embedding that matched best; `on` says which match it was.
 */
export function bestMatch(
  gallery: GalleryMatcher,
  face: EmbeddedFace,
  policy: Pick<MatchPolicy, 'topK' | 'occludedMargin' | 'threshold' | 'upperFaceThreshold' | 'upperFaceMargin'>,
): { best: GalleryMatch | undefined; embedding: Float32Array; on: MatchedOn } {
  if (face.face.route === 'upper-face' && face.upperFaceEmbedding && gallery.searchUpperFace) {
    const [top, next] = gallery.searchUpperFace(face.upperFaceEmbedding, Math.max(2, policy.topK));
    if (top) {
      const mapped = ontoMainScale(top.score, policy.upperFaceThreshold, policy.threshold);
      const ambiguous = next !== undefined && top.score - next.score < policy.upperFaceMargin;
      return {
        best: { identity: top.identity, score: ambiguous ? Math.min(mapped, policy.threshold - UNDECIDED_BELOW) : mapped },
        embedding: face.embedding,
        on: 'upper-face',
      };
    }
  }
  let best: GalleryMatch | undefined;
  let embedding = face.embedding;
  for (const e of face.unrepairedEmbedding ? [face.embedding, face.unrepairedEmbedding] : [face.embedding]) {
    const [top] = gallery.search(e, policy.topK);
    if (top && (!best || top.score > best.score)) (best = top), (embedding = e);
  }
  if (best && face.face.route !== 'clean') best = { identity: best.identity, score: best.score - policy.occludedMargin };
  return { best, embedding, on: 'face' };
}
