// The typed messages that flow between pipeline stages (DESIGN.md §1).

/** A packed RGB24 image: 3 bytes per pixel, rows top to bottom, no padding. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface Point {
  x: number;
  y: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One decoded frame of one camera. */
export interface Frame {
  camera: string;
  /** Per-camera frame counter, from 0 at the first frame of a connection. */
  seq: number;
  /** Wall-clock time (ms since epoch) when the frame arrived from ffmpeg. */
  time: number;
  image: RgbImage;
}

/** What a detector finds in an image: a box, a confidence and 68 landmarks (iBUG 300-W order). */
export interface DetectedFace {
  box: Box;
  score: number;
  landmarks: Point[];
}

/** A detected face in a frame, once the tracker has given it a track. */
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
  /** The upper-face recognizer's crop of a face covered below the eyes (match.upperFace; the upper-face stage cuts it). */
  upperFaceCrop?: RgbImage;
}

export interface Identity {
  id: number;
  name: string;
}

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

/** The version of the JSON alert payload; bump on any breaking change (README documents it). */
export const ALERT_SCHEMA = 1;

/** The JSON message a WebSocket subscriber receives. */
/** What a face was matched on: the whole face, or its upper face alone. */
export type MatchedOn = 'face' | 'upper-face';

export interface AlertMessage {
  schema: typeof ALERT_SCHEMA;
  type: 'alert';
  identity: Identity | null;
  known: boolean;
  /** Mean cosine similarity of the track's votes; an occluded face's votes count less match.occludedMargin. */
  score: number;
  camera: string;
  trackId: number;
  /** ISO-8601 times: when the frame was captured and when the alert left the server. */
  frameTime: string;
  sentTime: string;
  box: Box;
  /** Base64 JPEG of the aligned face. */
  faceJpeg: string;
  /** Attempts of the track that went into the vote. */
  votes: number;
  /**
   * How the attempt that raised the alert was matched: the whole face, or the upper face alone (a face
   * covered below the eyes, match.upperFace).
   */
  matchedOn: MatchedOn;
  /** Share (0–1) of the aligned face found covered; absent when no occlusion model is loaded. */
  occludedFraction?: number;
  /** When inpainting ran on the alerting face: base64 JPEG of the repaired aligned face… */
  inpaintedJpeg?: string;
  /** …and base64 PNG of the occlusion mask (white = covered), both the size of faceJpeg. */
  occlusionMaskPng?: string;
}
