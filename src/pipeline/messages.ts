// The messages between the pipeline's stages, in the order a frame meets them:
//
//   Frame → detect → FrameFaces<DetectedFace> → track → FrameFaces<FaceObservation>
//         → align → FrameFaces<AlignedFace> → repair → FrameFaces<RepairedFace>
//         → embed → FrameFaces<EmbeddedFace> → match → TrackDecision → alert → AlertMessage
//
// Beside the flow, the match stage reports each RecognitionAttempt that raised no alert (the events'
// Train tab keeps the recent ones).
//
// Every stage takes and returns the frame with its faces, so that no stage needs the frame passed
// around it.
import type { DetectedFace, Identity, Point, RgbImage } from '../types.ts';

/** One decoded frame of one camera. */
export interface Frame {
  camera: string;
  /** Per-camera frame counter, from 0 at the first frame of a connection. */
  seq: number;
  /** Wall-clock time (ms since epoch) when the frame arrived from ffmpeg. */
  time: number;
  image: RgbImage;
}

/** What each stage passes on: the frame, its faces as far as they have got, and the tracks it closed. */
export interface FrameFaces<F> {
  frame: Frame;
  faces: F[];
  /** Tracks the tracker closed at this frame (empty before the track stage): their state is let go. */
  closedTracks: readonly number[];
}

/** A detected face in a frame, once the tracker has given it a track and chosen it for an attempt. */
export interface FaceObservation {
  camera: string;
  frameSeq: number;
  frameTime: number;
  trackId: number;
  face: DetectedFace;
  /** Quality in [0, 1] from face size, sharpness and detector score; weights the track's vote. */
  quality: number;
}

/** A face warped to the canonical template: what the inpainter and recognizers see. */
export interface AlignedFace {
  observation: FaceObservation;
  /** 128×128 crop in the inpainting space. */
  crop: RgbImage;
  /** The crop the recognizer was built for (its own template and size). */
  recognizerCrop: RgbImage;
}

/**
 * How a face is matched, decided once by the repair stage: `clean` as it is; `repaired` covered, so
 * inpainted (when a generator is loaded) and matched with occluded faces' margin; `upper-face` covered
 * below the eyes, so matched on its upper face alone.
 */
export type Route = 'clean' | 'repaired' | 'upper-face';

/** What the repair stage found on one face (and, when it inpainted, what it made). */
export interface FaceOcclusion {
  /** Share (0–1) of the face area (hull of the landmarks in the aligned crop) found covered. */
  fraction: number;
  /** Most of what covers the face lies below the eyes (a mask, a scarf, a hand over the mouth). */
  belowEyes: boolean;
  /** Present when inpainting ran: the repaired 128×128 aligned face… */
  inpainted?: RgbImage;
  /** …and the hole it filled, one byte per crop pixel (1 = covered). */
  mask?: Uint8Array;
  /** …and the recognizer's crop of the face as it came (before the repair). */
  unrepairedCrop?: RgbImage;
  /** The landmarks the crop was aligned on, when the repairer's landmarker located them (the upper face reuses them). */
  located?: { by: string; points: readonly Point[] };
}

/** An aligned face after the repair stage: `recognizerCrop` is cut from the repaired frame when it was inpainted. */
export interface RepairedFace extends AlignedFace {
  route: Route;
  /** Absent when no occlusion model is loaded. */
  occlusion?: FaceOcclusion;
}

export interface EmbeddedFace {
  face: RepairedFace;
  embedding: Float32Array;
  /** A repaired face's embedding as it came, when `match.matchUnrepaired` asks for both. */
  unrepairedEmbedding?: Float32Array;
  /** The upper-face recognizer's embedding, for a face on the `upper-face` route. */
  upperFaceEmbedding?: Float32Array;
}

/** What a face was matched on: the whole face, or its upper face alone. */
export type MatchedOn = 'face' | 'upper-face';

/** The result of matching one face (one attempt of a track) against the gallery. */
export interface Identification {
  observation: FaceObservation;
  /** Best match above the `unknown` threshold, or null when the face is unknown. */
  identity: Identity | null;
  /** Cosine similarity of the best gallery match (−1…1). */
  score: number;
  /** The aligned face crop, kept for the alert. */
  crop: RgbImage;
  embedding: Float32Array;
}

/** A track's decision worth an alert (the cool-down is applied by the alert stage). */
export interface TrackDecision {
  identification: Identification;
  votes: number;
  /** What the repair stage found on the deciding face; absent when no occlusion model is loaded. */
  occlusion?: FaceOcclusion;
  /** What the deciding face was matched on. */
  matchedOn: MatchedOn;
  /** The frame the deciding face was seen in (an event cuts the face's source from it); not copied. */
  frameImage?: RgbImage;
}

/**
 * One recognition attempt that raised no alert: the track's vote has not decided yet, or decided
 * earlier, or the cool-down held its alert back. What the Train tab shows and can assign.
 */
export interface RecognitionAttempt {
  observation: FaceObservation;
  /** The closest gallery identity, whatever its score; null when the gallery gave no match. */
  closest: Identity | null;
  /** Cosine similarity of that match (an occluded face's less match.occludedMargin); −1 without one. */
  score: number;
  /** The score reached match.threshold: the face would be named, though this attempt alerted nothing. */
  known: boolean;
  matchedOn: MatchedOn;
  /** The aligned face crop. */
  crop: RgbImage;
  occlusion?: FaceOcclusion;
  /** The frame the face was seen in; not copied. */
  frameImage: RgbImage;
  /** Attempts of the track in its vote so far. */
  votes: number;
}
