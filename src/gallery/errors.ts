// Errors of the gallery that a user can act on: a stable code for programs, an HTTP status for the
// API (the CLI turns any of them into a non-zero exit), and a message that says what and why.
import type { Box, Identity } from '../types.ts';

export type GalleryErrorCode =
  | 'invalid_name'
  | 'identity_exists'
  | 'identity_not_found'
  | 'sample_not_found'
  | 'gallery_not_found'
  | 'gallery_unreadable'
  | 'unsupported_media_type'
  | 'not_an_image'
  | 'image_too_large'
  | 'no_face'
  | 'multiple_faces'
  | 'face_index_out_of_range'
  | 'face_too_small'
  | 'photo_of_other_identity'
  | 'busy';

export class GalleryError extends Error {
  readonly code: GalleryErrorCode;
  readonly status: number;
  /** Extra fields a client can use (the faces to pick from, the owner of a photo); sent with the message. */
  readonly details: Record<string, unknown>;

  constructor(code: GalleryErrorCode, status: number, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'GalleryError';
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

/** A detected face as a user sees it when asked to pick one. */
export interface FaceChoice {
  index: number;
  box: Box;
  score: number;
}

const describeBox = (b: Box) => `${Math.round(b.width)}×${Math.round(b.height)} px at (${Math.round(b.x)}, ${Math.round(b.y)})`;

const describeFaces = (faces: FaceChoice[]) =>
  faces.map((f) => `  face ${f.index}: ${describeBox(f.box)}, score ${f.score.toFixed(2)}`).join('\n');

export const invalidName = (why: string) => new GalleryError('invalid_name', 400, `invalid identity name: ${why}`);

export const identityExists = (existing: Identity) =>
  new GalleryError('identity_exists', 409, `an identity named "${existing.name}" already exists (id ${existing.id})`, {
    identity: existing,
  });

export const identityNotFound = (id: number) =>
  new GalleryError('identity_not_found', 404, `no identity with id ${id} in the gallery`);

export const sampleNotFound = (sampleId: number, identityId?: number) =>
  new GalleryError(
    'sample_not_found',
    404,
    identityId === undefined
      ? `no face sample with id ${sampleId} in the gallery`
      : `identity ${identityId} has no face sample with id ${sampleId}`,
  );

export const galleryNotFound = (path: string) =>
  new GalleryError('gallery_not_found', 404, `no gallery at ${path}: enroll someone first, or pass --gallery FILE`);

export const unsupportedMediaType = (got: string) =>
  new GalleryError(
    'unsupported_media_type',
    415,
    `send the photo as the request body with Content-Type image/* or application/octet-stream, ` +
      `or as JSON {"image": "<base64>"} (got ${got})`,
  );

export const galleryUnreadable = (path: string, why: string) =>
  new GalleryError('gallery_unreadable', 500, `cannot open the gallery ${path}: ${why}`);

export const notAnImage = (why: string) => new GalleryError('not_an_image', 415, `not a usable image: ${why}`);

export const imageTooLarge = (why: string) => new GalleryError('image_too_large', 413, `image too large: ${why}`);

export const noFace = (why: string) => new GalleryError('no_face', 422, `no face found in the image${why ? `: ${why}` : ''}`);

export const multipleFaces = (faces: FaceChoice[]) =>
  new GalleryError(
    'multiple_faces',
    422,
    `the image shows ${faces.length} faces; say which one to enroll (CLI --face N, API ?face=N):\n${describeFaces(faces)}`,
    { faces },
  );

export const faceIndexOutOfRange = (faceIndex: number, faces: FaceChoice[]) =>
  new GalleryError(
    'face_index_out_of_range',
    422,
    `face ${faceIndex} was asked for, but the image shows ${faces.length} face${faces.length === 1 ? '' : 's'} ` +
      `(numbered from 0):\n${describeFaces(faces)}`,
    { faces },
  );

export const faceTooSmall = (face: FaceChoice, minFaceSize: number) =>
  new GalleryError(
    'face_too_small',
    422,
    `face ${face.index} is ${Math.round(face.box.width)} px wide, narrower than gallery.minFaceSize (${minFaceSize} px): ` +
      `too small to recognise reliably; use a larger or closer photo`,
    { face, minFaceSize },
  );

/** The same face already enrolled for another identity: the same photo, or (`similarity` given) a copy of it re-encoded or resized. */
export const photoOfOtherIdentity = (owner: Identity, sampleId: number, similarity?: number) =>
  new GalleryError(
    'photo_of_other_identity',
    409,
    (similarity === undefined
      ? `this face in this photo is already enrolled as "${owner.name}" (identity ${owner.id}, sample ${sampleId}); `
      : `this face is already enrolled as "${owner.name}" (identity ${owner.id}, sample ${sampleId}): similarity ` +
        `${similarity.toFixed(3)} to that photo, the same photo re-encoded or resized; `) +
      `one face cannot belong to two identities — remove that sample first if it was wrong`,
    { owner, sampleId, ...(similarity === undefined ? {} : { similarity: Math.round(similarity * 1e4) / 1e4 }) },
  );

/** Too many enrollments at once: the client should retry after `retryAfterSec`. */
export const enrollmentBusy = (running: number, waiting: number, retryAfterSec: number) =>
  new GalleryError(
    'busy',
    503,
    `too many photos being enrolled at once (${running} running, ${waiting} waiting: gallery.enrollConcurrency and ` +
      `gallery.enrollQueue); retry in ${retryAfterSec} s`,
    { retryAfterSec },
  );
