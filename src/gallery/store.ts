// The gallery of record: identities and their face samples in one SQLite file (WAL, so the service
// can read while `unmask enroll` writes). Synchronous by design: better-sqlite3 calls are short and
// never overlap, which also makes each check-then-write below atomic.
//
// Deleted faces leave no bytes behind: deleted rows are overwritten (PRAGMA secure_delete) and the
// write-ahead log is moved into the file and truncated after every deletion (as the event history does).
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { iou } from '../align/box.ts';
import { stageLogger } from '../observe/log.ts';
import type { Box, Identity, Point } from '../types.ts';
import {
  galleryNotFound,
  galleryUnreadable,
  identityExists,
  identityNotFound,
  invalidName,
  photoOfOtherIdentity,
  sampleNotFound,
} from './errors.ts';
import { canonicalName, keysForExisting, nameKey } from './names.ts';
import { migrateSchema, type Migration } from '../storage/sqlite.ts';

export interface IdentityRecord extends Identity {
  createdAt: string;
  sampleCount: number;
}

/** What a sample records of its photo and of the recognizer that embedded it. */
interface SampleFields {
  identityId: number;
  /** SHA-256 (hex) of the photo's bytes as uploaded. */
  imageSha256: string;
  /** The face in the photo's pixels, and the detector's confidence in it. */
  box: Box;
  score: number;
  recognizerId: string;
  recognizerVersion: string;
  /**
   * A negative sample ("this is not X", from an event): a face that must not be named X. It never
   * counts as one of X's photos; a face is named X only when it is closer to X's photos than to these.
   */
  negative?: boolean;
}

export interface SampleRecord extends SampleFields {
  id: number;
  createdAt: string;
}

/** What re-embedding needs instead of the photo: the face with a margin, and its landmarks in that crop. */
export interface FaceSource {
  jpeg: Buffer;
  landmarks: Point[];
}

export interface NewSample extends SampleFields {
  /** L2-normalised. */
  embedding: Float32Array;
  thumbnailJpeg: Buffer;
  /** What re-embedding needs; absent when gallery.keepFaceSources is off (then it cannot be re-embedded). */
  source?: FaceSource;
  /** Secondary recognizers' embeddings made at enrollment (needed when no face source is kept to make them later). */
  secondaryEmbeddings?: { recognizerId: string; recognizerVersion: string; embedding: Float32Array }[];
}

/** What `purge` did. */
export interface PurgeReport {
  /** Face sources erased (with `faceSources`). */
  faceSourcesDropped: number;
  /** The file's size before and after (bytes), the write-ahead log included. */
  bytesBefore: number;
  bytesAfter: number;
}

export interface StoredEmbedding {
  sampleId: number;
  identity: Identity;
  embedding: Float32Array;
  /** A negative sample of the identity (SampleFields.negative). */
  negative: boolean;
}

/** Changes announced after they are committed, so that an in-memory index can follow the store. */
export type GalleryChange =
  | {
      type: 'sample-embedded';
      sampleId: number;
      identity: Identity;
      recognizerId: string;
      recognizerVersion: string;
      /** A secondary recognizer's embedding (kept beside the sample's main one, see `updateEmbedding`). */
      secondary: boolean;
      embedding: Float32Array;
      /** A negative sample of the identity: what it must not be taken for. */
      negative: boolean;
    }
  | { type: 'samples-removed'; sampleIds: number[] };

export type GalleryListener = (change: GalleryChange) => void;

/** Two boxes of the same photo overlapping this much (IoU) are the same face. */
const SAME_FACE_IOU = 0.5;
/**
 * A face this similar (cosine, same recognizer) to another identity's photo is that photo again,
 * re-encoded or resized: different people stay far below it (ArcFace's highest different-person pairs
 * on CelebA were 0.51–0.55, face-api's 0.95–0.97: results/fairness/).
 */
export const NEAR_DUPLICATE_COSINE = 0.98;

const log = stageLogger('gallery');

// Each entry migrates the schema from version i to i + 1 (PRAGMA user_version). Append, never edit.
const MIGRATIONS: readonly Migration[] = [
  `
  CREATE TABLE identities (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- ids are never reused: clients may cache by id
    name        TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_at  INTEGER NOT NULL                    -- ms since epoch
  );
  CREATE TABLE samples (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    identity_id         INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    image_sha256        TEXT NOT NULL,
    box                 TEXT NOT NULL,              -- JSON {x, y, width, height} in the photo
    score               REAL NOT NULL,
    recognizer_id       TEXT NOT NULL,
    recognizer_version  TEXT NOT NULL,
    embedding           BLOB NOT NULL,              -- Float32, little-endian, L2-normalised
    created_at          INTEGER NOT NULL,
    UNIQUE (identity_id, image_sha256)
  );
  CREATE INDEX samples_by_hash ON samples(image_sha256);
  CREATE INDEX samples_by_recognizer ON samples(recognizer_id, recognizer_version);
  -- The images live apart so that loading embeddings and listing samples scan small rows.
  CREATE TABLE sample_images (
    sample_id         INTEGER PRIMARY KEY REFERENCES samples(id) ON DELETE CASCADE,
    thumbnail_jpeg    BLOB NOT NULL,
    source_jpeg       BLOB NOT NULL,
    source_landmarks  TEXT NOT NULL                 -- JSON [[x, y], …] in source_jpeg's pixels
  );
  `,
  `
  -- Embeddings of secondary recognizers (the upper-face view that matches masked faces), kept beside
  -- each sample's main one: at most one per sample and recognizer.
  CREATE TABLE secondary_embeddings (
    sample_id           INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
    recognizer_id       TEXT NOT NULL,
    recognizer_version  TEXT NOT NULL,
    embedding           BLOB NOT NULL,              -- Float32, little-endian
    PRIMARY KEY (sample_id, recognizer_id)
  );
  `,
  `
  -- Negative samples ("this is not X", from an event's feedback): kept, embedded and re-embedded as
  -- samples are, but never one of the identity's photos; a face is X only when it is closer to X's
  -- photos than to these.
  ALTER TABLE samples ADD COLUMN negative INTEGER NOT NULL DEFAULT 0;
  `,
  // Names are unique by their key (names.ts: Unicode-canonical, case folded), not by SQLite's ASCII
  // NOCASE. Names stored before keep their spelling; when two share a key, both identities stay, the
  // later one under a key of its own (logged), for an operator to rename or merge.
  (db) => {
    db.exec('ALTER TABLE identities ADD COLUMN name_key TEXT');
    const rows = db.prepare<[], { id: number; name: string }>('SELECT id, name FROM identities').all();
    const { keys, collisions } = keysForExisting(rows);
    const setKey = db.prepare('UPDATE identities SET name_key = ? WHERE id = ?');
    for (const [id, key] of keys) setKey.run(key, id);
    db.exec('CREATE UNIQUE INDEX identities_by_name_key ON identities(name_key)');
    for (const { ids } of collisions)
      log.warn({ identities: ids, names: ids.map((id) => rows.find((r) => r.id === id)?.name) }, 'identities whose names differ only in case or invisible characters: both kept; rename or merge them');
  },
];

/** Schema versions before this one deleted without overwriting: a gallery opened from them is vacuumed once. */
const SECURE_DELETE_SINCE = 4;

export const SCHEMA_VERSION = MIGRATIONS.length;

interface IdentityRow {
  id: number;
  name: string;
  created_at: number;
  sample_count: number;
}

interface SampleRow {
  id: number;
  identity_id: number;
  image_sha256: string;
  box: string;
  score: number;
  recognizer_id: string;
  recognizer_version: string;
  created_at: number;
  negative: number;
}

const SAMPLE_COLUMNS = 'id, identity_id, image_sha256, box, score, recognizer_id, recognizer_version, created_at, negative';

function toIdentity(row: IdentityRow): IdentityRecord {
  return { id: row.id, name: row.name, createdAt: new Date(row.created_at).toISOString(), sampleCount: row.sample_count };
}

function toSample(row: SampleRow): SampleRecord {
  return {
    id: row.id,
    identityId: row.identity_id,
    imageSha256: row.image_sha256,
    box: JSON.parse(row.box) as Box,
    score: row.score,
    recognizerId: row.recognizer_id,
    recognizerVersion: row.recognizer_version,
    createdAt: new Date(row.created_at).toISOString(),
    ...(row.negative ? { negative: true } : {}),
  };
}

function embeddingToBlob(embedding: Float32Array): Buffer {
  return Buffer.from(embedding.buffer, embedding.byteOffset, embedding.byteLength);
}

function blobToEmbedding(blob: Buffer): Float32Array {
  // Copy: the blob's offset inside its ArrayBuffer need not be 4-byte aligned.
  return new Float32Array(new Uint8Array(blob).buffer);
}

/** The canonical name (names.ts), or an error that says what is wrong with it. */
export function validIdentityName(raw: unknown): string {
  const check = canonicalName(raw);
  if (!check.ok) throw invalidName(check.why);
  return check.name;
}

export interface OpenOptions {
  /** Create the file (and its folder) when absent; otherwise an absent file is a `gallery_not_found` error. */
  create?: boolean;
}

export class GalleryStore {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly listeners = new Set<GalleryListener>();

  private constructor(path: string, db: Database.Database) {
    this.path = path;
    this.db = db;
  }

  static open(path: string, { create = true }: OpenOptions = {}): GalleryStore {
    if (!existsSync(path)) {
      if (!create) throw galleryNotFound(path);
      try {
        mkdirSync(dirname(path), { recursive: true });
      } catch (err) {
        throw galleryUnreadable(path, `its folder cannot be created (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    } else if (statSync(path).isDirectory()) {
      throw galleryUnreadable(path, 'it is a folder: give a file in it, such as gallery.db');
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      db.pragma('synchronous = NORMAL'); // durable enough under WAL, and much faster per write
      db.pragma('busy_timeout = 5000'); // the CLI and the service may write at the same time
      // A deleted face's bytes are overwritten with zeros, not left in free pages.
      db.pragma('secure_delete = ON');
      const from = migrateSchema(db, MIGRATIONS);
      if (from > 0 && from < SECURE_DELETE_SINCE) {
        // Faces deleted before secure_delete may still sit in free pages: rewrite the file once.
        db.exec('VACUUM');
        db.pragma('wal_checkpoint(TRUNCATE)');
        log.info({ path, schemaVersion: from }, 'gallery rewritten once (VACUUM): faces deleted by earlier versions are overwritten');
      }
      return new GalleryStore(path, db);
    } catch (err) {
      db?.close();
      const message = (err as Error).message;
      throw galleryUnreadable(path, message.includes('not a database') ? 'it is not a SQLite file' : message);
    }
  }

  close(): void {
    this.listeners.clear();
    this.db.close();
  }

  /** Called after each committed change made through this store; returns the unsubscribe function. */
  onChange(listener: GalleryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Changes whenever another connection (another process) commits to the file. */
  externalDataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  /**
   * Another process's commits, as `reload` (the gallery interface's external change, gallery.ts): the
   * file's data version is asked every `pollIntervalMs` (0: never). The version seen at the call is the baseline.
   */
  onExternalChange(listener: (change: { type: 'reload' }) => void, pollIntervalMs: number): () => void {
    if (pollIntervalMs <= 0) return () => undefined;
    let seen = this.externalDataVersion();
    const timer = setInterval(() => {
      let version: number;
      try {
        version = this.externalDataVersion();
      } catch {
        return; // closed meanwhile
      }
      if (version === seen) return;
      seen = version;
      listener({ type: 'reload' });
    }, pollIntervalMs);
    timer.unref(); // never keeps the process alive on its own
    return () => clearInterval(timer);
  }

  /** Whether deleted rows are overwritten on this connection (1). */
  secureDelete(): number {
    return this.db.pragma('secure_delete', { simple: true }) as number;
  }

  createIdentity(rawName: unknown): IdentityRecord {
    const name = validIdentityName(rawName);
    const existing = this.findIdentityByName(name);
    if (existing) throw identityExists(existing);
    const createdAt = Date.now();
    const { lastInsertRowid } = this.db
      .prepare('INSERT INTO identities (name, name_key, created_at) VALUES (?, ?, ?)')
      .run(name, nameKey(name), createdAt);
    return { id: Number(lastInsertRowid), name, createdAt: new Date(createdAt).toISOString(), sampleCount: 0 };
  }

  /**
   * Creates the identity with its first photo in one transaction: a crash or a refusal leaves neither
   * (an identity is never seen without a photo). Refused as createIdentity and addSample refuse.
   */
  createIdentityWithSample(rawName: unknown, sample: Omit<NewSample, 'identityId'>): { identity: IdentityRecord; sample: SampleRecord } {
    let identity!: IdentityRecord;
    const { sample: stored } = this.db.transaction(() => {
      identity = this.createIdentity(rawName);
      return this.addSample({ ...sample, identityId: identity.id });
    })();
    return { identity: { ...identity, sampleCount: 1 }, sample: stored };
  }

  getIdentity(id: number): IdentityRecord | undefined {
    const row = this.db
      .prepare<[number], IdentityRow>(
        `SELECT i.id, i.name, i.created_at, (SELECT COUNT(*) FROM samples s WHERE s.identity_id = i.id AND s.negative = 0) AS sample_count
         FROM identities i WHERE i.id = ?`,
      )
      .get(id);
    return row && toIdentity(row);
  }

  /** Names compare by their key (names.ts): "alice" finds "Alice", "ÅSA" finds "åsa", invisible characters are ignored. */
  findIdentityByName(name: string): IdentityRecord | undefined {
    const check = canonicalName(name);
    if (!check.ok) return undefined;
    const row = this.db
      .prepare<[string], IdentityRow>(
        `SELECT i.id, i.name, i.created_at, (SELECT COUNT(*) FROM samples s WHERE s.identity_id = i.id AND s.negative = 0) AS sample_count
         FROM identities i WHERE i.name_key = ?`,
      )
      .get(nameKey(check.name));
    return row && toIdentity(row);
  }

  listIdentities(): IdentityRecord[] {
    return this.db
      .prepare<[], IdentityRow>(
        `SELECT i.id, i.name, i.created_at, COUNT(s.id) AS sample_count
         FROM identities i LEFT JOIN samples s ON s.identity_id = i.id AND s.negative = 0
         GROUP BY i.id ORDER BY i.name COLLATE NOCASE, i.id`,
      )
      .all()
      .map(toIdentity);
  }

  /** Deletes the identity and all its samples. */
  deleteIdentity(id: number): { identity: IdentityRecord; sampleIds: number[] } {
    const removed = this.db.transaction(() => {
      const identity = this.getIdentity(id);
      if (!identity) throw identityNotFound(id);
      const sampleIds = this.db
        .prepare<[number], { id: number }>('SELECT id FROM samples WHERE identity_id = ?')
        .all(id)
        .map((r) => r.id);
      this.db.prepare('DELETE FROM identities WHERE id = ?').run(id); // samples and images cascade
      return { identity, sampleIds };
    })();
    this.truncateLog();
    if (removed.sampleIds.length) this.emit({ type: 'samples-removed', sampleIds: removed.sampleIds });
    return removed;
  }

  getSample(sampleId: number): SampleRecord | undefined {
    const row = this.db.prepare<[number], SampleRow>(`SELECT ${SAMPLE_COLUMNS} FROM samples WHERE id = ?`).get(sampleId);
    return row && toSample(row);
  }

  /** The identity's photos (its negative samples with `negatives`). */
  listSamples(identityId: number, { negatives = false }: { negatives?: boolean } = {}): SampleRecord[] {
    return this.db
      .prepare<[number, number], SampleRow>(`SELECT ${SAMPLE_COLUMNS} FROM samples WHERE identity_id = ? AND negative = ? ORDER BY id`)
      .all(identityId, negatives ? 1 : 0)
      .map(toSample);
  }

  findSampleByHash(identityId: number, imageSha256: string): SampleRecord | undefined {
    const row = this.db
      .prepare<[number, string], SampleRow>(
        `SELECT ${SAMPLE_COLUMNS} FROM samples WHERE identity_id = ? AND image_sha256 = ?`,
      )
      .get(identityId, imageSha256);
    return row && toSample(row);
  }

  /** Photos in the gallery (negative samples with `negatives`). */
  countSamples({ negatives = false }: { negatives?: boolean } = {}): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM samples WHERE negative = ?').get(negatives ? 1 : 0) as { n: number }).n;
  }

  /**
   * Stores a sample unless the identity already has this photo (then the existing sample comes back
   * with `duplicate: true`). Refuses the same face of the same photo for another identity: one face
   * cannot be two people. Another face of a group photo may belong to another identity. A negative
   * sample is refused by nothing but a missing identity; the latest word on a photo wins: a photo
   * stored as the other kind for the same identity (a photo of X, then "not X") is replaced.
   */
  addSample(sample: NewSample): { sample: SampleRecord; duplicate: boolean; replaced?: SampleRecord } {
    const negative = sample.negative === true;
    let replaced: SampleRecord | undefined;
    const result = this.db.transaction(() => {
      if (!this.getIdentity(sample.identityId)) throw identityNotFound(sample.identityId);
      const existing = this.findSampleByHash(sample.identityId, sample.imageSha256);
      if (existing && (existing.negative === true) === negative) return { sample: existing, duplicate: true };
      const samePhoto = negative
        ? []
        : this.db
            .prepare<[string, number], SampleRow & { name: string }>(
              `SELECT s.id, s.identity_id, s.box, i.name FROM samples s JOIN identities i ON i.id = s.identity_id
               WHERE s.image_sha256 = ? AND s.identity_id != ? AND s.negative = 0`,
            )
            .all(sample.imageSha256, sample.identityId);
      for (const other of samePhoto) {
        if (iou(JSON.parse(other.box) as Box, sample.box) >= SAME_FACE_IOU)
          throw photoOfOtherIdentity({ id: other.identity_id, name: other.name }, other.id);
      }
      if (!negative) {
        const near = this.closestOtherIdentity(sample);
        if (near && near.similarity >= NEAR_DUPLICATE_COSINE) throw photoOfOtherIdentity(near.identity, near.sampleId, near.similarity);
      }
      if (existing) {
        this.db.prepare('DELETE FROM samples WHERE id = ?').run(existing.id);
        replaced = existing;
      }
      const createdAt = Date.now();
      const { lastInsertRowid } = this.db
        .prepare(
          `INSERT INTO samples (identity_id, image_sha256, box, score, recognizer_id, recognizer_version, embedding, created_at, negative)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          sample.identityId,
          sample.imageSha256,
          JSON.stringify(sample.box),
          sample.score,
          sample.recognizerId,
          sample.recognizerVersion,
          embeddingToBlob(sample.embedding),
          createdAt,
          negative ? 1 : 0,
        );
      const id = Number(lastInsertRowid);
      // Without a face source an empty one is stored (the column is NOT NULL): faceSource() says "none".
      this.db
        .prepare('INSERT INTO sample_images (sample_id, thumbnail_jpeg, source_jpeg, source_landmarks) VALUES (?, ?, ?, ?)')
        .run(id, sample.thumbnailJpeg, sample.source?.jpeg ?? Buffer.alloc(0), JSON.stringify((sample.source?.landmarks ?? []).map((p) => [p.x, p.y])));
      const addSecondary = this.db.prepare(
        'INSERT INTO secondary_embeddings (sample_id, recognizer_id, recognizer_version, embedding) VALUES (?, ?, ?, ?)',
      );
      for (const other of sample.secondaryEmbeddings ?? []) addSecondary.run(id, other.recognizerId, other.recognizerVersion, embeddingToBlob(other.embedding));
      return { sample: this.getSample(id)!, duplicate: false };
    })();
    if (replaced) this.truncateLog();
    if (!result.duplicate) {
      if (replaced) this.emit({ type: 'samples-removed', sampleIds: [replaced.id] });
      const identity = this.getIdentity(sample.identityId)!;
      const embedded = { type: 'sample-embedded', sampleId: result.sample.id, identity: { id: identity.id, name: identity.name }, negative } as const;
      for (const other of sample.secondaryEmbeddings ?? [])
        this.emit({ ...embedded, recognizerId: other.recognizerId, recognizerVersion: other.recognizerVersion, secondary: true, embedding: other.embedding });
      this.emit({ ...embedded, recognizerId: sample.recognizerId, recognizerVersion: sample.recognizerVersion, secondary: false, embedding: sample.embedding });
    }
    return replaced ? { ...result, replaced } : result;
  }

  /**
   * The photo of another identity closest to a new sample (same recognizer, cosine of unit vectors),
   * whatever its score; negative samples are not photos. A scan: enrollment is rare, the gallery small.
   */
  closestOtherIdentity(sample: Pick<NewSample, 'identityId' | 'recognizerId' | 'recognizerVersion' | 'embedding'>): { identity: Identity; sampleId: number; similarity: number } | undefined {
    let best: { identity: Identity; sampleId: number; similarity: number } | undefined;
    const rows = this.db
      .prepare<[string, string, number], { id: number; identity_id: number; name: string; embedding: Buffer }>(
        `SELECT s.id, s.identity_id, i.name, s.embedding FROM samples s JOIN identities i ON i.id = s.identity_id
         WHERE s.recognizer_id = ? AND s.recognizer_version = ? AND s.identity_id != ? AND s.negative = 0`,
      )
      .iterate(sample.recognizerId, sample.recognizerVersion, sample.identityId);
    for (const row of rows) {
      const other = blobToEmbedding(row.embedding);
      if (other.length !== sample.embedding.length) continue;
      let dot = 0;
      for (let i = 0; i < other.length; i++) dot += other[i] * sample.embedding[i];
      if (!best || dot > best.similarity) best = { identity: { id: row.identity_id, name: row.name }, sampleId: row.id, similarity: dot };
    }
    return best;
  }

  /**
   * Rewrites the file without free pages (VACUUM) and empties the write-ahead log; with `faceSources`,
   * first erases every sample's face source (gallery.keepFaceSources turned off on a gallery that kept them).
   */
  purge({ faceSources = false }: { faceSources?: boolean } = {}): PurgeReport {
    const bytesBefore = this.fileBytes();
    let faceSourcesDropped = 0;
    if (faceSources)
      faceSourcesDropped = this.db
        .prepare(`UPDATE sample_images SET source_jpeg = x'', source_landmarks = '[]' WHERE length(source_jpeg) > 0`)
        .run().changes;
    this.db.exec('VACUUM');
    this.truncateLog();
    return { faceSourcesDropped, bytesBefore, bytesAfter: this.fileBytes() };
  }

  private fileBytes(): number {
    const size = (file: string) => (existsSync(file) ? statSync(file).size : 0);
    return size(this.path) + size(`${this.path}-wal`);
  }

  /** Moves the log into the file and empties it: the overwritten pages replace the deleted ones there too. */
  private truncateLog(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** Deletes one sample of the identity; a sample of another identity is "not found". */
  deleteSample(identityId: number, sampleId: number): SampleRecord {
    if (!this.getIdentity(identityId)) throw identityNotFound(identityId);
    const sample = this.getSample(sampleId);
    if (!sample || sample.identityId !== identityId) throw sampleNotFound(sampleId, identityId);
    this.db.prepare('DELETE FROM samples WHERE id = ?').run(sampleId);
    this.truncateLog();
    this.emit({ type: 'samples-removed', sampleIds: [sampleId] });
    return sample;
  }

  thumbnail(sampleId: number): Buffer | undefined {
    return this.db
      .prepare<[number], { thumbnail_jpeg: Buffer }>('SELECT thumbnail_jpeg FROM sample_images WHERE sample_id = ?')
      .get(sampleId)?.thumbnail_jpeg;
  }

  faceSource(sampleId: number): FaceSource | undefined {
    const row = this.db
      .prepare<[number], { source_jpeg: Buffer; source_landmarks: string }>(
        'SELECT source_jpeg, source_landmarks FROM sample_images WHERE sample_id = ?',
      )
      .get(sampleId);
    if (!row || row.source_jpeg.length === 0) return undefined;
    const pairs = JSON.parse(row.source_landmarks) as [number, number][];
    return { jpeg: row.source_jpeg, landmarks: pairs.map(([x, y]) => ({ x, y })) };
  }

  /** Every embedding made by this recognizer version (main or secondary), with its identity; negative samples say so. */
  embeddings(recognizerId: string, recognizerVersion: string): StoredEmbedding[] {
    return this.db
      .prepare<[string, string, string, string], { id: number; identity_id: number; name: string; embedding: Buffer; negative: number }>(
        `SELECT s.id, s.identity_id, i.name, s.embedding, s.negative FROM samples s JOIN identities i ON i.id = s.identity_id
         WHERE s.recognizer_id = ? AND s.recognizer_version = ?
         UNION ALL
         SELECT s.id, s.identity_id, i.name, x.embedding, s.negative FROM secondary_embeddings x
           JOIN samples s ON s.id = x.sample_id JOIN identities i ON i.id = s.identity_id
         WHERE x.recognizer_id = ? AND x.recognizer_version = ?
         ORDER BY 1`,
      )
      .all(recognizerId, recognizerVersion, recognizerId, recognizerVersion)
      .map((r) => ({
        sampleId: r.id,
        identity: { id: r.identity_id, name: r.name },
        embedding: blobToEmbedding(r.embedding),
        negative: r.negative === 1,
      }));
  }

  /** Samples without an embedding by this recognizer version, neither as their main one nor as a secondary one. */
  staleSampleIds(recognizerId: string, recognizerVersion: string): number[] {
    return this.db
      .prepare<[string, string, string, string], { id: number }>(
        `SELECT s.id FROM samples s WHERE NOT (s.recognizer_id = ? AND s.recognizer_version = ?)
           AND NOT EXISTS (SELECT 1 FROM secondary_embeddings x
                           WHERE x.sample_id = s.id AND x.recognizer_id = ? AND x.recognizer_version = ?)
         ORDER BY s.id`,
      )
      .all(recognizerId, recognizerVersion, recognizerId, recognizerVersion)
      .map((r) => r.id);
  }

  /**
   * Replaces a sample's main embedding, or with `secondary` stores (replaces) this recognizer's
   * embedding beside it; false when the sample is gone meanwhile.
   */
  updateEmbedding(sampleId: number, recognizerId: string, recognizerVersion: string, embedding: Float32Array, secondary = false): boolean {
    const blob = embeddingToBlob(embedding);
    const { changes } = secondary
      ? this.db
          .prepare(
            `INSERT OR REPLACE INTO secondary_embeddings (sample_id, recognizer_id, recognizer_version, embedding)
             SELECT id, ?, ?, ? FROM samples WHERE id = ?`,
          )
          .run(recognizerId, recognizerVersion, blob, sampleId)
      : this.db
          .prepare('UPDATE samples SET recognizer_id = ?, recognizer_version = ?, embedding = ? WHERE id = ?')
          .run(recognizerId, recognizerVersion, blob, sampleId);
    if (!changes) return false;
    const sample = this.getSample(sampleId)!;
    const identity = this.getIdentity(sample.identityId)!;
    this.emit({
      type: 'sample-embedded',
      sampleId,
      identity: { id: identity.id, name: identity.name },
      recognizerId,
      recognizerVersion,
      secondary,
      embedding,
      negative: sample.negative === true,
    });
    return true;
  }

  private emit(change: GalleryChange): void {
    for (const listener of this.listeners) listener(change);
  }
}
