// The value types every part of the service shares: images, points, boxes, faces, identities.
// (The messages between pipeline stages are in pipeline/messages.ts, the alert payload in alert/message.ts.)

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

/** What a detector finds in an image: a box, a confidence and 68 landmarks (iBUG 300-W order). */
export interface DetectedFace {
  box: Box;
  score: number;
  landmarks: Point[];
}

export interface Identity {
  id: number;
  name: string;
}
