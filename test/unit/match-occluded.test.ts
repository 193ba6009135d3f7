// Matching occluded faces: the better of the repaired and the unrepaired embedding counts, an
// occluded face's score is discounted by match.occludedMargin before it votes, and a face covered
// below the eyes is matched on its upper face, that score moved onto the main scale.
import { firstValueFrom, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { FACEAPI_RECOGNIZER_TEMPLATE } from '../../src/align/templates.ts';
import type { Recognizer } from '../../src/models/types.ts';
import { embedStage } from '../../src/embed/stage.ts';
import { bestMatch, ontoMainScale, type GalleryMatcher } from '../../src/match/policy.ts';
import type { EmbeddedFace, Frame, RepairedFace } from '../../src/pipeline/messages.ts';
import { routeOf } from '../../src/repair/occlusion.ts';
import type { Identity, RgbImage } from '../../src/types.ts';

const ada: Identity = { id: 1, name: 'Ada' };
const bob: Identity = { id: 2, name: 'Bob' };
/** Scores are the embedding's first two values: Ada's and Bob's. */
const ranked = (e: Float32Array, k: number) =>
  [
    { identity: ada, score: e[0] },
    { identity: bob, score: e[1] },
  ]
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
const gallery: GalleryMatcher = { search: ranked, identity: (id) => [ada, bob].find((p) => p.id === id) };
const withUpperFace: GalleryMatcher = { ...gallery, searchUpperFace: ranked };

const crop = (value: number): RgbImage => ({ width: 1, height: 1, data: Uint8Array.of(value, 0, 0) });

/** A face as the repair stage leaves it, its route decided as the service decides it (minFraction 0.05, upper face on). */
function face(fraction: number | undefined, unrepaired = false, belowEyes = false): RepairedFace {
  const occlusion = fraction === undefined ? undefined : { fraction, belowEyes, ...(unrepaired ? { unrepairedCrop: crop(2) } : {}) };
  return {
    observation: { camera: 'cam', frameSeq: 0, frameTime: 0, trackId: 1, face: { box: { x: 0, y: 0, width: 1, height: 1 }, score: 1, landmarks: [] }, quality: 1 },
    crop: crop(0),
    recognizerCrop: crop(1),
    route: routeOf(occlusion, { minFraction: 0.05, upperFace: true }),
    ...(occlusion ? { occlusion } : {}),
  };
}

const embedded = (aligned: RepairedFace, embedding: number[], unrepairedEmbedding?: number[], upperFaceEmbedding?: number[]): EmbeddedFace => ({
  face: aligned,
  embedding: Float32Array.from(embedding),
  ...(unrepairedEmbedding ? { unrepairedEmbedding: Float32Array.from(unrepairedEmbedding) } : {}),
  ...(upperFaceEmbedding ? { upperFaceEmbedding: Float32Array.from(upperFaceEmbedding) } : {}),
});

const MATCHING = { topK: 3, occludedMargin: 0.01, threshold: 0.92, upperFaceThreshold: 0.6, upperFaceMargin: 0.04 };

describe('bestMatch', () => {
  it('a clean face keeps its score', () => {
    const { best } = bestMatch(gallery, embedded(face(0.01), [0.95, 0.5]), MATCHING);
    expect(best).toEqual({ identity: ada, score: expect.closeTo(0.95, 6) });
    expect(bestMatch(gallery, embedded(face(undefined), [0.95, 0.5]), MATCHING).best?.score).toBeCloseTo(0.95, 6);
  });

  it('an occluded face scores the margin less', () => {
    const { best } = bestMatch(gallery, embedded(face(0.3), [0.95, 0.5]), MATCHING);
    expect(best?.identity).toEqual(ada);
    expect(best?.score).toBeCloseTo(0.94, 6);
  });

  it('keeps the better of the repaired and the unrepaired match, with the embedding that made it', () => {
    const repairedBetter = bestMatch(gallery, embedded(face(0.3, true), [0.93, 0.2], [0.5, 0.91]), MATCHING);
    expect(repairedBetter.best?.identity).toEqual(ada);
    expect(repairedBetter.best?.score).toBeCloseTo(0.92, 6);
    expect(repairedBetter.embedding[0]).toBeCloseTo(0.93, 6);

    const unrepairedBetter = bestMatch(gallery, embedded(face(0.3, true), [0.9, 0.2], [0.5, 0.96]), MATCHING);
    expect(unrepairedBetter.best?.identity).toEqual(bob);
    expect(unrepairedBetter.best?.score).toBeCloseTo(0.95, 6);
    expect(unrepairedBetter.embedding[1]).toBeCloseTo(0.96, 6);
  });

  it('a face on the upper-face route is matched on its upper face alone, moved onto match.threshold', () => {
    // Main: Ada 0.90. Upper face: Bob 0.8, half way from its threshold 0.6 to 1 → half way from 0.92 to 1.
    const upper = bestMatch(withUpperFace, embedded(face(0.3, true, true), [0.9, 0.2], [0.85, 0.3], [0.3, 0.8]), MATCHING);
    expect(upper.best).toEqual({ identity: bob, score: expect.closeTo(0.96, 6) });
    expect(upper.on).toBe('upper-face');
    expect(upper.embedding[0]).toBeCloseTo(0.9, 6); // the main recognizer's embedding, as before
    // Below its threshold too (0.2 → −1 + 1.2 · 1.92 / 1.6), whatever the whole face scores.
    const below = bestMatch(withUpperFace, embedded(face(0.3, true, true), [0.99, 0.1], undefined, [0.1, 0.2]), MATCHING);
    expect(below.best).toEqual({ identity: bob, score: expect.closeTo(0.44, 6) });
    // A gallery without upper-face embeddings, or an empty one, falls back on the whole face.
    expect(bestMatch(gallery, embedded(face(0.3, true, true), [0.9, 0.2], undefined, [0.3, 0.65]), MATCHING).best).toEqual({
      identity: ada,
      score: expect.closeTo(0.89, 6),
    });
    const noUpperSamples: GalleryMatcher = { ...gallery, searchUpperFace: () => [] };
    const fallback = bestMatch(noUpperSamples, embedded(face(0.3, true, true), [0.9, 0.2], undefined, [0.3, 0.65]), MATCHING);
    expect(fallback.best?.identity).toEqual(ada);
    expect(fallback.on).toBe('face');
  });

  it('holds an upper-face match undecided when the next identity is within the margin (a look-alike)', () => {
    // Bob 0.80, Ada 0.78: 0.02 apart, under the 0.04 margin. Mapped, 0.80 would be 0.96; it is held just under 0.92.
    const close = bestMatch(withUpperFace, embedded(face(0.3, true, true), [0.1, 0.1], undefined, [0.78, 0.8]), MATCHING);
    expect(close.best?.identity).toEqual(bob);
    expect(close.best!.score).toBeLessThan(0.92);
    expect(close.best!.score).toBeGreaterThan(0.919);
    // 0.05 apart: trusted.
    expect(bestMatch(withUpperFace, embedded(face(0.3, true, true), [0.1, 0.1], undefined, [0.75, 0.8]), MATCHING).best?.score).toBeCloseTo(0.96, 6);
    // One identity in the gallery: nobody to be confused with.
    const alone: GalleryMatcher = { ...gallery, searchUpperFace: (e) => [{ identity: bob, score: e[1] }] };
    expect(bestMatch(alone, embedded(face(0.3, true, true), [0.1, 0.1], undefined, [0.78, 0.8]), MATCHING).best?.score).toBeCloseTo(0.96, 6);
  });

  it('ontoMainScale keeps −1, the threshold and 1 where they belong, and the order of scores', () => {
    expect([-1, 0.6, 1].map((c) => ontoMainScale(c, 0.6, 0.92))).toEqual([-1, 0.92, 1]);
    const mapped = [-0.5, 0, 0.3, 0.59, 0.61, 0.9].map((c) => ontoMainScale(c, 0.6, 0.92));
    expect(mapped).toEqual([...mapped].sort((a, b) => a - b));
    expect(ontoMainScale(0.8, 0.6, 0.92)).toBeCloseTo(0.96, 9);
  });

  it('an empty gallery gives no match', () => {
    const empty: GalleryMatcher = { search: () => [], identity: () => undefined };
    expect(bestMatch(empty, embedded(face(0.3, true), [1, 0], [0, 1]), MATCHING).best).toBeUndefined();
  });
});

const FRAME: Frame = { camera: 'cam', seq: 0, time: 0, image: crop(0) };
const message = (faces: RepairedFace[]) => ({ frame: FRAME, faces, closedTracks: [] });

describe('embedStage', () => {
  /** Embeds a crop as its first byte, and counts its calls. */
  function recognizer() {
    const calls: number[] = [];
    const r: Recognizer = {
      id: 'fake',
      version: '1',
      dims: 1,
      template: FACEAPI_RECOGNIZER_TEMPLATE,
      embed: async (crops) => {
        calls.push(crops.length);
        return crops.map((c) => Float32Array.of(c.data[0]));
      },
    };
    return { r, calls };
  }

  it('embeds the unrepaired crops of repaired faces in the same batch, and gives each back to its face', async () => {
    const { r, calls } = recognizer();
    const faces = [face(0.01), face(0.4, true), face(undefined)];
    const out = (await firstValueFrom(of(message(faces)).pipe(embedStage(r, () => {}, { withUnrepaired: true })))).faces;
    expect(calls).toEqual([4]);
    expect(out.map((f) => f.embedding[0])).toEqual([1, 1, 1]);
    expect(out.map((f) => f.unrepairedEmbedding?.[0])).toEqual([undefined, 2, undefined]);
  });

  it('without the option, only the (repaired) recognizer crops are embedded', async () => {
    const { r, calls } = recognizer();
    const out = (await firstValueFrom(of(message([face(0.4, true)])).pipe(embedStage(r, () => {}, { withUnrepaired: false })))).faces;
    expect(calls).toEqual([1]);
    expect(out[0].unrepairedEmbedding).toBeUndefined();
  });

  it('cuts and embeds the faces on the upper-face route, in one batch of the upper-face recognizer', async () => {
    const main = recognizer(), upper = recognizer();
    const cut: RepairedFace[] = [];
    const cutter = { cut: async (_frame: Frame, f: RepairedFace) => (cut.push(f), crop(3)) };
    const faces = [face(0.4, true, true), face(0.4, true, false), face(undefined), face(0.2, false, true)];
    const out = (await firstValueFrom(of(message(faces)).pipe(embedStage(main.r, () => {}, { upperFace: { recognizer: upper.r, cutter } })))).faces;
    expect(faces.map((f) => f.route)).toEqual(['upper-face', 'repaired', 'clean', 'upper-face']);
    expect(cut).toEqual([faces[0], faces[3]]);
    expect(main.calls).toEqual([4]);
    expect(upper.calls).toEqual([2]);
    expect(out.map((f) => f.upperFaceEmbedding?.[0])).toEqual([3, undefined, undefined, 3]);
  });
});
