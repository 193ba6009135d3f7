// The JSON message a WebSocket subscriber receives (README "Alert format"): the service's public contract.
import type { MatchedOn } from '../pipeline/messages.ts';
import type { Box, Identity } from '../types.ts';

/** The version of the JSON alert payload; bump on any breaking change (README documents it). */
export const ALERT_SCHEMA = 1;

export interface AlertMessage {
  schema: typeof ALERT_SCHEMA;
  type: 'alert';
  /**
   * Set by the server when it sends the alert: reconnect with ?after=<id> to be sent what came since
   * (the same id on every gateway of a cluster).
   */
  id?: string;
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
