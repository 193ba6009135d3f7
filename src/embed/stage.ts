// embed: every face of the frame through the recognizer in one call (its batcher gathers them with
// other cameras'), a repaired face's crop as it came too when asked; faces on the upper-face route are
// cut again on their eyes and embedded by the upper-face recognizer.
import { concatMap, type OperatorFunction } from 'rxjs';
import type { Recognizer } from '../models/types.ts';
import { timed, type StageClock } from '../pipeline/clock.ts';
import type { EmbeddedFace, Frame, FrameFaces, RepairedFace } from '../pipeline/messages.ts';
import type { RgbImage } from '../types.ts';

/** Cuts a face's upper-face crop from its frame (upper-face.ts UpperFaceCutter). */
export interface UpperFaceCrops {
  cut(frame: Frame, face: RepairedFace, clock: StageClock): Promise<RgbImage>;
}

export interface EmbedOptions {
  /** A repaired face's crop as it came is embedded too (same batch), so that match can keep the better of the two. */
  withUnrepaired?: boolean;
  /** The upper-face view and the cutter of its crops; absent: no face is matched on its upper face. */
  upperFace?: { recognizer: Recognizer; cutter: UpperFaceCrops };
}

export function embedStage(recognizer: Recognizer, clock: StageClock, options: EmbedOptions = {}): OperatorFunction<FrameFaces<RepairedFace>, FrameFaces<EmbeddedFace>> {
  const { withUnrepaired = false, upperFace } = options;
  return concatMap(async (message) => {
    const { frame, faces } = message;
    if (!faces.length) return { ...message, faces: [] };
    const unrepaired = withUnrepaired ? faces.flatMap((f, i) => (f.occlusion?.unrepairedCrop ? [{ i, crop: f.occlusion.unrepairedCrop }] : [])) : [];
    const upper = upperFace ? faces.flatMap((f, i) => (f.route === 'upper-face' ? [i] : [])) : [];
    const [embeddings, upperEmbeddings] = await Promise.all([
      timed(clock, 'embed', () => recognizer.embed([...faces.map((f) => f.recognizerCrop), ...unrepaired.map((u) => u.crop)])),
      upper.length
        ? Promise.all(upper.map((i) => upperFace!.cutter.cut(frame, faces[i], clock))).then((crops) => timed(clock, 'embed_upper_face', () => upperFace!.recognizer.embed(crops)))
        : [],
    ]);
    const out: EmbeddedFace[] = faces.map((face, i) => ({ face, embedding: embeddings[i] }));
    unrepaired.forEach(({ i }, k) => (out[i].unrepairedEmbedding = embeddings[faces.length + k]));
    upper.forEach((i, k) => (out[i].upperFaceEmbedding = upperEmbeddings[k]));
    return { ...message, faces: out };
  });
}
