// The gallery of record, whichever database holds it: one interface with GalleryStore's method names,
// each of which may answer with a promise (callers always await). SQLite (store.ts, one file, the
// single process) answers at once; PostgreSQL (postgres.ts, shared by a cluster's workers) over the
// network. Which one runs: gallery.store, opened by openGallery.
import type { Config } from '../config.ts';
import { redactSecrets } from '../observe/redact.ts';
import type { FaceSource, GalleryChange, GalleryListener, IdentityRecord, NewSample, SampleRecord, StoredEmbedding } from './store.ts';

/** A value now, or later. */
export type Awaitable<T> = T | Promise<T>;

/**
 * What other processes changed: a change as this process's own are announced (the index applies it),
 * or `reload` when only "something changed" is known (SQLite's file version; a lost notification).
 */
export type ExternalChange = GalleryChange | { type: 'reload' };

export interface Gallery {
  /** Where it lives, as users may be shown it: a file, or a database URL without its password. */
  readonly path: string;
  close(): Awaitable<void>;
  /** Called after each committed change made through this object; returns the unsubscribe function. */
  onChange(listener: GalleryListener): () => void;
  /**
   * Called with what other processes (`unmask enroll`, a cluster's gateways) commit, however the
   * database tells: SQLite is asked every `pollIntervalMs` (0: never), PostgreSQL notifies.
   */
  onExternalChange(listener: (change: ExternalChange) => void, pollIntervalMs: number): () => void;

  /** Refused (invalid_name, identity_exists) as names.ts and the store's key say. */
  createIdentity(name: unknown): Awaitable<IdentityRecord>;
  /** The identity with its first photo, in one transaction: a refusal or a crash leaves neither. */
  createIdentityWithSample(name: unknown, sample: Omit<NewSample, 'identityId'>): Awaitable<{ identity: IdentityRecord; sample: SampleRecord }>;
  getIdentity(id: number): Awaitable<IdentityRecord | undefined>;
  findIdentityByName(name: string): Awaitable<IdentityRecord | undefined>;
  listIdentities(): Awaitable<IdentityRecord[]>;
  deleteIdentity(id: number): Awaitable<{ identity: IdentityRecord; sampleIds: number[] }>;
  getSample(sampleId: number): Awaitable<SampleRecord | undefined>;
  listSamples(identityId: number, options?: { negatives?: boolean }): Awaitable<SampleRecord[]>;
  findSampleByHash(identityId: number, imageSha256: string): Awaitable<SampleRecord | undefined>;
  countSamples(options?: { negatives?: boolean }): Awaitable<number>;
  addSample(sample: NewSample): Awaitable<{ sample: SampleRecord; duplicate: boolean; replaced?: SampleRecord }>;
  deleteSample(identityId: number, sampleId: number): Awaitable<SampleRecord>;
  thumbnail(sampleId: number): Awaitable<Buffer | undefined>;
  faceSource(sampleId: number): Awaitable<FaceSource | undefined>;
  embeddings(recognizerId: string, recognizerVersion: string): Awaitable<StoredEmbedding[]>;
  staleSampleIds(recognizerId: string, recognizerVersion: string): Awaitable<number[]>;
  updateEmbedding(sampleId: number, recognizerId: string, recognizerVersion: string, embedding: Float32Array, secondary?: boolean): Awaitable<boolean>;
}

/** The database URL in force: the environment's UNMASK_GALLERY_URL wins over gallery.url (it may hold a password). */
export function galleryUrlOf(config: Pick<Config, 'gallery'>, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.UNMASK_GALLERY_URL || config.gallery.url;
}

/** A database URL as it may be shown: without its credentials (observe/redact.ts). */
export function withoutPassword(url: string): string {
  return redactSecrets(url);
}
