// Matching occluded faces: the better of the repaired and the unrepaired embedding counts, and an
// occluded face's score is discounted by match.occludedMargin before it votes.
import { firstValueFrom, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { FACEAPI_RECOGNIZER_TEMPLATE } from '../../src/align/templates.ts';
import type { Recognizer } from '../../src/models/types.ts';
import { bestMatch, embedStage, type EmbeddedFace, type GalleryMatcher, type RepairedFace } from '../../src/pipeline/stages.ts';
import type { Identity, RgbImage } from '../../src/types.ts';

const ada: Identity = { id: 1, name: 'Ada' };
const bob: Identity = { id: 2, name: 'Bob' };
/** Scores are the embedding's first two values: Ada's and Bob's. */
const gallery: GalleryMatcher = {
  search: (e, k) =>
    [
      { identity: ada, score: e[0] },
      { identity: bob, score: e[1] },
    ]
      .sort((a, b) => b.score - a.score)
      .slice(0, k),
  identity: (id) => [ada, bob].find((p) => p.id === id),
};

const crop = (value: number): RgbImage => ({ width: 1, height: 1, data: Uint8Array.of(value, 0, 0) });

function face(fraction: number | undefined, unrepaired = false): RepairedFace {
  return {
    observation: { camera: 'cam', frameSeq: 0, frameTime: 0, trackId: 1, face: { box: { x: 0, y: 0, width: 1, height: 1 }, score: 1, landmarks: [] }, quality: 1 },
    crop: crop(0),
    recognizerCrop: crop(1),
    ...(fraction === undefined ? {} : { occlusion: { fraction, ...(unrepaired ? { unrepairedCrop: crop(2) } : {}) } }),
  };
}

const embedded = (aligned: RepairedFace, embedding: number[], unrepairedEmbedding?: number[]): EmbeddedFace => ({
  aligned,
  embedding: Float32Array.from(embedding),
  ...(unrepairedEmbedding ? { unrepairedEmbedding: Float32Array.from(unrepairedEmbedding) } : {}),
});

const MATCHING = { occludedMargin: 0.01, minFraction: 0.05 };

describe('bestMatch', () => {
  it('a clean face keeps its score', () => {
    const { best } = bestMatch(gallery, embedded(face(0.01), [0.95, 0.5]), 3, MATCHING);
    expect(best).toEqual({ identity: ada, score: expect.closeTo(0.95, 6) });
    expect(bestMatch(gallery, embedded(face(undefined), [0.95, 0.5]), 3, MATCHING).best?.score).toBeCloseTo(0.95, 6);
  });

  it('an occluded face scores the margin less', () => {
    const { best } = bestMatch(gallery, embedded(face(0.3), [0.95, 0.5]), 3, MATCHING);
    expect(best?.identity).toEqual(ada);
    expect(best?.score).toBeCloseTo(0.94, 6);
  });

  it('keeps the better of the repaired and the unrepaired match, with the embedding that made it', () => {
    const repairedBetter = bestMatch(gallery, embedded(face(0.3, true), [0.93, 0.2], [0.5, 0.91]), 3, MATCHING);
    expect(repairedBetter.best?.identity).toEqual(ada);
    expect(repairedBetter.best?.score).toBeCloseTo(0.92, 6);
    expect(repairedBetter.embedding[0]).toBeCloseTo(0.93, 6);

    const unrepairedBetter = bestMatch(gallery, embedded(face(0.3, true), [0.9, 0.2], [0.5, 0.96]), 3, MATCHING);
    expect(unrepairedBetter.best?.identity).toEqual(bob);
    expect(unrepairedBetter.best?.score).toBeCloseTo(0.95, 6);
    expect(unrepairedBetter.embedding[1]).toBeCloseTo(0.96, 6);
  });

  it('an empty gallery gives no match', () => {
    const empty: GalleryMatcher = { search: () => [], identity: () => undefined };
    expect(bestMatch(empty, embedded(face(0.3, true), [1, 0], [0, 1]), 3, MATCHING).best).toBeUndefined();
  });
});

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
    const out = await firstValueFrom(of(faces).pipe(embedStage(r, () => {}, true)));
    expect(calls).toEqual([4]);
    expect(out.map((f) => f.embedding[0])).toEqual([1, 1, 1]);
    expect(out.map((f) => f.unrepairedEmbedding?.[0])).toEqual([undefined, 2, undefined]);
  });

  it('without the option, only the (repaired) recognizer crops are embedded', async () => {
    const { r, calls } = recognizer();
    const out = await firstValueFrom(of([face(0.4, true)]).pipe(embedStage(r, () => {}, false)));
    expect(calls).toEqual([1]);
    expect(out[0].unrepairedEmbedding).toBeUndefined();
  });
});
