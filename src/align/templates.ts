// Canonical crops: where chosen landmarks must land in each model's input.
import type { Point } from '../types.ts';

export interface CropTemplate {
  /** Name, stored with embeddings so that a change of alignment is noticed. */
  readonly name: string;
  /** Side of the square crop, pixels. */
  readonly size: number;
  /** Per point, the 68-point landmarks (iBUG order) whose mean position is matched (dlib's: one each)… */
  readonly landmarkGroups: readonly (readonly number[])[];
  /** …to these points of the crop. */
  readonly points: readonly Point[];
}

// dlib's 5-point face-chip template on the unit square (get_face_chip_details): outer and inner
// corner of the subject's left eye, of the right eye, and the base of the nose. These are the
// points dlib's recognition network (which face-api's FaceRecognitionNet is a port of) was trained on.
const DLIB_UNIT_POINTS: readonly Point[] = [
  { x: 0.8595674595992, y: 0.2134981538014 },
  { x: 0.6460604764104, y: 0.2289674387677 },
  { x: 0.1205750620789, y: 0.2137274526848 },
  { x: 0.3340850613712, y: 0.2290642403242 },
  { x: 0.4901123135679, y: 0.6277975316475 },
];
/** 68-point indices of those five points. */
const DLIB_LANDMARKS = [45, 42, 36, 39, 33] as const;

/** A dlib-style chip: `size` pixels with `padding` (a fraction of the template's extent) on each side. */
export function dlibChipTemplate(name: string, size: number, padding: number): CropTemplate {
  return {
    name,
    size,
    landmarkGroups: DLIB_LANDMARKS.map((i) => [i]),
    points: DLIB_UNIT_POINTS.map((p) => ({
      x: ((padding + p.x) / (2 * padding + 1)) * size,
      y: ((padding + p.y) / (2 * padding + 1)) * size,
    })),
  };
}

/** face-api's FaceRecognitionNet: dlib's own alignment, 150 px, padding 0.25. */
export const FACEAPI_RECOGNIZER_TEMPLATE = dlibChipTemplate('dlib-150-p0.25', 150, 0.25);

/**
 * The inpainting space: 128×128, the whole face with a little forehead and chin, as the paper's
 * LFW crops. Training, serving and evaluation all use this one.
 */
export const INPAINT_TEMPLATE = dlibChipTemplate('dlib-128-p0.35', 128, 0.35);

/**
 * InsightFace's ArcFace chip, 112 px (REFERENCE_FACIAL_POINTS), fed the way npm
 * faceplugin-face-recognition-js does (lib/fr_feature.js convert68pts5pts): eye centres from the four
 * eyelid points of each eye, the nose tip, mouth corners averaged with the inner lip corners.
 */
export const ARCFACE_TEMPLATE: CropTemplate = {
  name: 'arcface-112-faceplugin5',
  size: 112,
  landmarkGroups: [[37, 38, 40, 41], [43, 44, 46, 47], [30], [48, 60], [54, 64]],
  points: [
    { x: 38.29459953, y: 51.69630051 },
    { x: 73.53179932, y: 51.50139999 },
    { x: 56.02519989, y: 71.73660278 },
    { x: 41.54930115, y: 92.3655014 },
    { x: 70.72990036, y: 92.20410156 },
  ],
};

/** The template's points as found in a 68-point set: each the mean of its landmark group. */
export function sourcePoints(template: CropTemplate, landmarks68: readonly Point[]): Point[] {
  if (landmarks68.length !== 68) throw new Error(`expected 68 landmarks, got ${landmarks68.length}`);
  return template.landmarkGroups.map((group) => {
    let x = 0, y = 0;
    for (const i of group) (x += landmarks68[i].x), (y += landmarks68[i].y);
    return { x: x / group.length, y: y / group.length };
  });
}
