// The pipeline's stages, one RxJS operator each, over the typed messages of src/types.ts.
// Each stage holds no model itself: models and state come in, so stages can be tested alone.
import { concatMap, map, mergeMap, type OperatorFunction } from 'rxjs';
import { alignToTemplate } from '../align/warp.ts';
import { INPAINT_TEMPLATE } from '../align/templates.ts';
import type { Config } from '../config.ts';
import { TrackAlerts, type AlertPolicy } from '../match/decide.ts';
import type { Detector, Recognizer } from '../models/types.ts';
import { faceQuality } from '../track/quality.ts';
import { IouTracker } from '../track/tracker.ts';
import { AttemptScheduler, TrackVote } from '../match/vote.ts';
import type { AlignedFace, DetectedFace, Frame, FaceObservation, Identification, Identity, MatchedOn } from '../types.ts';
import type { FaceOcclusion } from '../repair/repairer.ts';

/** Where the time of each stage goes (metrics, and the bench's percentiles). */
export type StageClock = (stage: string, ms: number) => void;

export interface GalleryMatcher {
  /** Best match per identity, best first. */
  search(embedding: Float32Array, k: number): { identity: Identity; score: number }[];
  /** The same over the gallery's upper-face embeddings (absent: no upper-face matching). */
  searchUpperFace?(embedding: Float32Array, k: number): { identity: Identity; score: number }[];
  /** The identity of an id, or undefined once it has been deleted. */
  identity(id: number): Identity | undefined;
}

export interface DetectedFrame {
  frame: Frame;
  faces: DetectedFace[];
}

export interface TrackedFrame {
  frame: Frame;
  /** Faces of this frame whose track gets a recognition attempt now. */
  attempts: FaceObservation[];
}

/** A track's decision worth an alert (the cool-down is applied by the alert stage). */
export interface TrackDecision {
  identification: Identification;
  votes: number;
  /** What the repair stage found on the deciding face; absent when no occlusion model is loaded. */
  occlusion?: FaceOcclusion;
  /** What the deciding face was matched on. */
  matchedOn: MatchedOn;
}

/** An aligned face after the repair stage: `recognizerCrop` is cut from the repaired frame when it was inpainted. */
export interface RepairedFace extends AlignedFace {
  occlusion?: FaceOcclusion;
}

async function timedCall<T>(clock: StageClock, stage: string, fn: () => Promise<T> | T): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    clock(stage, performance.now() - start);
  }
}

/** detect: faces with landmarks; faces narrower than `minFaceSize` are dropped (too small to recognise). */
export function detectStage(detector: Detector, minFaceSize: number, clock: StageClock): OperatorFunction<Frame, DetectedFrame> {
  return concatMap(async (frame) => {
    const faces = await timedCall(clock, 'detect', () => detector.detect(frame.image));
    return { frame, faces: faces.filter((f) => f.box.width >= minFaceSize) };
  });
}

interface TrackState {
  scheduler: AttemptScheduler;
  vote: TrackVote;
  alerts: TrackAlerts;
}

/** Per-camera state of the track and match stages: the tracker and each live track's vote. */
export class CameraTracks {
  readonly tracker: IouTracker;
  private readonly tracks = new Map<number, TrackState>();

  constructor(private readonly config: Pick<Config, 'track'>) {
    this.tracker = new IouTracker(config.track);
  }

  get size(): number {
    return this.tracks.size;
  }

  state(trackId: number, firstSeen: number): TrackState {
    return this.tracks.get(trackId) ?? this.restart(trackId, firstSeen);
  }

  /** A fresh vote for the track: it now shows someone else than the one its vote is about. */
  restart(trackId: number, time: number): TrackState {
    const s = { scheduler: new AttemptScheduler(this.config.track, time), vote: new TrackVote(), alerts: new TrackAlerts() };
    this.tracks.set(trackId, s);
    return s;
  }

  /** Per-track state exists only while the tracker holds the track. */
  forget(trackIds: readonly number[]): void {
    for (const id of trackIds) this.tracks.delete(id);
  }
}

/** track: one track per person across frames; picks the frames of each track worth recognising. */
export function trackStage(tracks: CameraTracks, clock: StageClock): OperatorFunction<DetectedFrame, TrackedFrame> {
  return map(({ frame, faces }) => {
    const start = performance.now();
    const update = tracks.tracker.update(faces, frame.time);
    tracks.forget(update.closed);
    const attempts: FaceObservation[] = [];
    for (const t of update.tracks) {
      const quality = faceQuality(t.face, frame.image);
      if (tracks.state(t.trackId, t.firstSeen).scheduler.claim(quality, frame.time))
        attempts.push({ camera: frame.camera, frameSeq: frame.seq, frameTime: frame.time, trackId: t.trackId, face: t.face, quality });
    }
    clock('track', performance.now() - start);
    return { frame, attempts };
  });
}

/** align: each attempted face warped to the inpainting template and to the recognizer's own. */
export function alignStage(recognizer: Recognizer, clock: StageClock): OperatorFunction<TrackedFrame, AlignedFace[]> {
  return map(({ frame, attempts }) => {
    const start = performance.now();
    const aligned = attempts.map((observation) => ({
      observation,
      crop: alignToTemplate(frame.image, observation.face.landmarks, INPAINT_TEMPLATE).crop,
      recognizerCrop: alignToTemplate(frame.image, observation.face.landmarks, recognizer.template).crop,
    }));
    if (attempts.length) clock('align', performance.now() - start);
    return aligned;
  });
}

export interface EmbeddedFace {
  aligned: RepairedFace;
  embedding: Float32Array;
  /** A repaired face's embedding as it came, when `match.matchUnrepaired` asks for both. */
  unrepairedEmbedding?: Float32Array;
  /** The upper-face recognizer's embedding of a face covered below the eyes. */
  upperFaceEmbedding?: Float32Array;
}

export interface EmbedOptions {
  /** A repaired face's crop as it came is embedded too (same batch), so that match can keep the better of the two. */
  withUnrepaired?: boolean;
  /** Faces with an upper-face crop (covered below the eyes: the upper-face stage) are embedded by this recognizer too. */
  upperFace?: Recognizer;
}

/** embed: one batch per frame through the recognizer, and one through the upper-face recognizer when a face needs it. */
export function embedStage(recognizer: Recognizer, clock: StageClock, options: EmbedOptions = {}): OperatorFunction<RepairedFace[], EmbeddedFace[]> {
  const { withUnrepaired = false, upperFace } = options;
  return concatMap(async (faces) => {
    if (faces.length === 0) return [];
    const unrepaired = withUnrepaired ? faces.flatMap((f, i) => (f.occlusion?.unrepairedCrop ? [{ i, crop: f.occlusion.unrepairedCrop }] : [])) : [];
    const upper = upperFace ? faces.flatMap((f, i) => (f.upperFaceCrop ? [{ i, crop: f.upperFaceCrop }] : [])) : [];
    const embeddings = await timedCall(clock, 'embed', () => recognizer.embed([...faces.map((f) => f.recognizerCrop), ...unrepaired.map((u) => u.crop)]));
    const out: EmbeddedFace[] = faces.map((aligned, i) => ({ aligned, embedding: embeddings[i] }));
    unrepaired.forEach(({ i }, k) => (out[i].unrepairedEmbedding = embeddings[faces.length + k]));
    if (upper.length) {
      const upperEmbeddings = await timedCall(clock, 'embed_upper_face', () => upperFace!.embed(upper.map((u) => u.crop)));
      upper.forEach(({ i }, k) => (out[i].upperFaceEmbedding = upperEmbeddings[k]));
    }
    return out;
  });
}

/** How occluded faces are matched (config match.occludedMargin, match.upperFace, occlusion.minFraction). */
export interface OccludedMatching {
  /** Subtracted from an occluded face's similarity before it votes. */
  occludedMargin: number;
  /** A face counts as occluded above this covered share. */
  minFraction: number;
  /** match.threshold: the scale an upper-face similarity is moved onto. */
  threshold: number;
  /** match.upperFace.threshold: the upper-face recognizer's own. */
  upperFaceThreshold: number;
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
 * The best gallery match of one face. A face covered below the eyes that has an upper-face embedding
 * is matched on its upper face alone, that cosine moved onto the main scale (ontoMainScale): on
 * masked faces the whole-face matches name more strangers and more wrong people than they add right
 * names (README "Occlusion repair"). Otherwise the highest score over its embeddings (repaired and,
 * when present, as it came), an occluded face's score less the margin. `embedding` is the main
 * recognizer's embedding that matched best; `on` says which match it was.
 */
export function bestMatch(
  gallery: GalleryMatcher,
  face: EmbeddedFace,
  topK: number,
  occluded: OccludedMatching,
): { best: { identity: Identity; score: number } | undefined; embedding: Float32Array; on: MatchedOn } {
  if (face.upperFaceEmbedding && gallery.searchUpperFace) {
    const [top] = gallery.searchUpperFace(face.upperFaceEmbedding, topK);
    if (top)
      return {
        best: { identity: top.identity, score: ontoMainScale(top.score, occluded.upperFaceThreshold, occluded.threshold) },
        embedding: face.embedding,
        on: 'upper-face',
      };
  }
  let best: { identity: Identity; score: number } | undefined;
  let embedding = face.embedding;
  for (const e of face.unrepairedEmbedding ? [face.embedding, face.unrepairedEmbedding] : [face.embedding]) {
    const [top] = gallery.search(e, topK);
    if (top && (!best || top.score > best.score)) (best = top), (embedding = e);
  }
  const isOccluded = (face.aligned.occlusion?.fraction ?? 0) > occluded.minFraction;
  if (best && isOccluded) best = { identity: best.identity, score: best.score - occluded.occludedMargin };
  return { best, embedding, on: 'face' };
}

/**
 * match: each attempt against the gallery, into its track's vote; emits a decision when the vote
 * turns into something to alert (once per track and identity).
 */
export function matchStage(
  gallery: GalleryMatcher,
  tracks: CameraTracks,
  policy: AlertPolicy & OccludedMatching & { topK: number },
  clock: StageClock,
): OperatorFunction<EmbeddedFace[], TrackDecision> {
  return mergeMap((faces) => {
    const start = performance.now();
    const decisions: TrackDecision[] = [];
    for (const face of faces) {
      const { aligned } = face;
      const obs = aligned.observation;
      const { best, embedding, on } = bestMatch(gallery, face, policy.topK, policy);
      const matched = best && best.score >= policy.unknownThreshold ? best : null;
      let state = tracks.state(obs.trackId, obs.frameTime);
      // A confident match for someone else than an established vote's leader: the tracker has
      // carried the track over to another person. Their frames start a vote of their own.
      const before = state.vote.summary();
      if (best && best.score >= policy.threshold && before.votes >= 2 && before.identityId !== best.identity.id) {
        state = tracks.restart(obs.trackId, obs.frameTime);
        state.scheduler.claim(obs.quality, obs.frameTime); // this attempt is the new vote's first
      }
      state.vote.add({ identityId: matched?.identity.id ?? null, score: best?.score ?? -1, quality: obs.quality });
      const summary = state.vote.summary();
      const verdict = state.alerts.next(summary, policy);
      if (!verdict) continue;
      // The vote's leader may not be this attempt's best match; name it from the gallery.
      const identity = verdict.kind === 'known' ? gallery.identity(verdict.identityId) : null;
      if (verdict.kind === 'known' && !identity) continue; // deleted from the gallery meanwhile
      decisions.push({
        identification: {
          observation: obs,
          identity: identity ?? null,
          score: verdict.score,
          crop: aligned.crop,
          embedding,
        },
        votes: verdict.votes,
        occlusion: aligned.occlusion,
        matchedOn: on,
      });
    }
    if (faces.length) clock('match', performance.now() - start);
    return decisions;
  });
}
