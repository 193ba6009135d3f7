// The gallery in PostgreSQL, for a cluster's workers (docs/scaling.md): the model of the SQLite store
// (identities, samples with their embeddings, their images, secondary embeddings, negative samples)
// behind the same interface (gallery.ts). Writes are serialised by one advisory lock, so that each
// check-then-write is atomic as in SQLite; every committed change is announced on a NOTIFY channel,
// and each process's in-memory index follows it (LISTEN) within milliseconds. No pgvector: the
// embeddings are loaded into each infer worker's memory (match/gallery-index.ts).
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { iou } from '../align/box.ts';
import { stageLogger } from '../observe/log.ts';
import type { Box, Identity } from '../types.ts';
import { galleryUnreadable, identityExists, identityNotFound, photoOfOtherIdentity, sampleNotFound } from './errors.ts';
import { withoutPassword, type ExternalChange, type Gallery } from './gallery.ts';
import { canonicalName, nameKey } from './names.ts';
import {
  NEAR_DUPLICATE_COSINE,
  validIdentityName,
  type FaceSource,
  type GalleryChange,
  type GalleryListener,
  type IdentityRecord,
  type NewSample,
  type SampleRecord,
  type StoredEmbedding,
} from './store.ts';

const log = stageLogger('gallery');

/** The NOTIFY channel of gallery changes. */
export const GALLERY_CHANNEL = 'unmask_gallery';
/** The advisory lock every write holds for its transaction ("unma"). */
const WRITE_LOCK = 0x756e6d61;
/** Two boxes of the same photo overlapping this much (IoU) are the same face (as store.ts). */
const SAME_FACE_IOU = 0.5;
/** A NOTIFY payload holds at most 8000 bytes: beyond this many sample ids, listeners reload instead. */
const MAX_NOTIFIED_IDS = 500;
/** Wait before the listening connection tries again after it was lost. */
const RELISTEN_MS = 1000;

// Each entry migrates the schema from version i to i + 1 (gallery_schema.version). Append, never edit.
// Names are unique by their key (names.ts), as in the SQLite store.
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE identities (
    id          BIGSERIAL PRIMARY KEY,          -- never reused: clients may cache by id
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL UNIQUE,           -- names.ts: the same key, the same person
    created_at  BIGINT NOT NULL                 -- ms since epoch
  );
  CREATE TABLE samples (
    id                  BIGSERIAL PRIMARY KEY,
    identity_id         BIGINT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    image_sha256        TEXT NOT NULL,
    box                 TEXT NOT NULL,          -- JSON {x, y, width, height} in the photo
    score               DOUBLE PRECISION NOT NULL,
    recognizer_id       TEXT NOT NULL,
    recognizer_version  TEXT NOT NULL,
    embedding           BYTEA NOT NULL,         -- Float32, little-endian, L2-normalised
    created_at          BIGINT NOT NULL,
    negative            BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (identity_id, image_sha256)
  );
  CREATE INDEX samples_by_hash ON samples (image_sha256);
  CREATE INDEX samples_by_recognizer ON samples (recognizer_id, recognizer_version);
  CREATE TABLE sample_images (
    sample_id         BIGINT PRIMARY KEY REFERENCES samples(id) ON DELETE CASCADE,
    thumbnail_jpeg    BYTEA NOT NULL,
    source_jpeg       BYTEA NOT NULL,
    source_landmarks  TEXT NOT NULL             -- JSON [[x, y], …] in source_jpeg's pixels
  );
  CREATE TABLE secondary_embeddings (
    sample_id           BIGINT NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
    recognizer_id       TEXT NOT NULL,
    recognizer_version  TEXT NOT NULL,
    embedding           BYTEA NOT NULL,
    PRIMARY KEY (sample_id, recognizer_id)
  );
  `,
];

interface IdentityRow {
  id: string;
  name: string;
  created_at: string;
  sample_count: string;
}

interface SampleRow {
  id: string;
  identity_id: string;
  image_sha256: string;
  box: string;
  score: number;
  recognizer_id: string;
  recognizer_version: string;
  created_at: string;
  negative: boolean;
}

const SAMPLE_COLUMNS = 'id, identity_id, image_sha256, box, score, recognizer_id, recognizer_version, created_at, negative';
const IDENTITY_SELECT = `SELECT i.id, i.name, i.created_at,
  (SELECT COUNT(*) FROM samples s WHERE s.identity_id = i.id AND NOT s.negative) AS sample_count FROM identities i`;

// BIGINT and BIGSERIAL come back as strings (they may pass 2^53); ids and ms times stay far below it.
function toIdentity(row: IdentityRow): IdentityRecord {
  return { id: Number(row.id), name: row.name, createdAt: new Date(Number(row.created_at)).toISOString(), sampleCount: Number(row.sample_count) };
}

function toSample(row: SampleRow): SampleRecord {
  return {
    id: Number(row.id),
    identityId: Number(row.identity_id),
    imageSha256: row.image_sha256,
    box: JSON.parse(row.box) as Box,
    score: row.score,
    recognizerId: row.recognizer_id,
    recognizerVersion: row.recognizer_version,
    createdAt: new Date(Number(row.created_at)).toISOString(),
    ...(row.negative ? { negative: true } : {}),
  };
}

function embeddingToBytes(embedding: Float32Array): Buffer {
  return Buffer.from(embedding.buffer, embedding.byteOffset, embedding.byteLength);
}

function bytesToEmbedding(bytes: Buffer): Float32Array {
  return new Float32Array(new Uint8Array(bytes).buffer);
}

/** A query runner: the pool, or a client inside a transaction. */
type Queryable = Pick<pg.Pool, 'query'>;

/** A sample stored in a transaction: its result, and what to announce after the commit. */
interface Added {
  result: { sample: SampleRecord; duplicate: boolean; replaced?: SampleRecord };
  identity: IdentityRecord;
  sample: NewSample;
  notices: Omit<Notice, 'origin'>[];
}

/** What a change notification carries: which samples changed (re-read them) or went, and who sent it. */
interface Notice {
  origin: string;
  type: 'samples-changed' | 'samples-removed' | 'reload';
  sampleIds?: number[];
}

export class PostgresGallery implements Gallery {
  readonly path: string;
  private readonly listeners = new Set<GalleryListener>();
  private readonly external = new Set<(change: ExternalChange) => void>();
  /** Tells this process's notifications from the others' (this process announced its own already). */
  private readonly origin = randomUUID();
  private listener: pg.Client | undefined;
  private listening: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly url: string,
    private readonly pool: pg.Pool,
  ) {
    this.path = withoutPassword(url);
  }

  /**
   * Connects, brings the schema to this version (one process at a time), and listens for the other
   * processes' changes before it answers: what they commit from then on is not missed.
   */
  static async connect(url: string): Promise<PostgresGallery> {
    const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 10_000 });
    // An idle connection that dies (the server restarted) is dropped from the pool; the next query opens another.
    pool.on('error', (err) => log.warn({ err: err.message }, 'gallery database: an idle connection was lost'));
    try {
      await migrate(pool);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw galleryUnreadable(withoutPassword(url), (err as Error).message);
    }
    const gallery = new PostgresGallery(url, pool);
    await new Promise<void>((listening, failed) => {
      gallery.listening = gallery.listen(listening, failed);
    }).catch(async (err: Error) => {
      await gallery.close();
      throw galleryUnreadable(gallery.path, `cannot listen for its changes: ${err.message}`);
    });
    return gallery;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.external.clear();
    await this.listener?.end().catch(() => undefined);
    await this.listening;
    await this.pool.end();
  }

  onChange(listener: GalleryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Other processes' changes, as they are notified (LISTEN, since connect); the poll interval does not apply. */
  onExternalChange(listener: (change: ExternalChange) => void, _pollIntervalMs: number): () => void {
    this.external.add(listener);
    return () => this.external.delete(listener);
  }

  async createIdentity(rawName: unknown): Promise<IdentityRecord> {
    return this.write(async (db) => ({ value: await this.insertIdentity(db, rawName) }));
  }

  /** The identity with its first photo, in one transaction (as GalleryStore.createIdentityWithSample). */
  async createIdentityWithSample(rawName: unknown, sample: Omit<NewSample, 'identityId'>): Promise<{ identity: IdentityRecord; sample: SampleRecord }> {
    const { identity, added } = await this.write(async (db) => {
      const identity = await this.insertIdentity(db, rawName);
      const added = await this.insertSample(db, { ...sample, identityId: identity.id });
      return { value: { identity, added }, notices: added.notices };
    });
    this.announceAdded(added);
    return { identity: { ...identity, sampleCount: 1 }, sample: added.result.sample };
  }

  async getIdentity(id: number): Promise<IdentityRecord | undefined> {
    return this.identityById(this.pool, id);
  }

  /** Names compare by their key (names.ts): "alice" finds "Alice", "ÅSA" finds "åsa". */
  async findIdentityByName(name: string): Promise<IdentityRecord | undefined> {
    const check = canonicalName(name);
    return check.ok ? this.identityByName(this.pool, check.name) : undefined;
  }

  async listIdentities(): Promise<IdentityRecord[]> {
    const { rows } = await this.pool.query<IdentityRow>(
      `SELECT i.id, i.name, i.created_at, COUNT(s.id) AS sample_count
       FROM identities i LEFT JOIN samples s ON s.identity_id = i.id AND NOT s.negative
       GROUP BY i.id ORDER BY lower(i.name), i.id`,
    );
    return rows.map(toIdentity);
  }

  async deleteIdentity(id: number): Promise<{ identity: IdentityRecord; sampleIds: number[] }> {
    const removed = await this.write(async (db) => {
      const identity = await this.identityById(db, id);
      if (!identity) throw identityNotFound(id);
      const { rows } = await db.query<{ id: string }>('SELECT id FROM samples WHERE identity_id = $1', [id]);
      const sampleIds = rows.map((r) => Number(r.id));
      await db.query('DELETE FROM identities WHERE id = $1', [id]);
      return { value: { identity, sampleIds }, notices: sampleIds.length ? [{ type: 'samples-removed', sampleIds }] : [] };
    });
    if (removed.sampleIds.length) this.emit({ type: 'samples-removed', sampleIds: removed.sampleIds });
    return removed;
  }

  async getSample(sampleId: number): Promise<SampleRecord | undefined> {
    return this.sampleById(this.pool, sampleId);
  }

  async listSamples(identityId: number, { negatives = false }: { negatives?: boolean } = {}): Promise<SampleRecord[]> {
    const { rows } = await this.pool.query<SampleRow>(`SELECT ${SAMPLE_COLUMNS} FROM samples WHERE identity_id = $1 AND negative = $2 ORDER BY id`, [identityId, negatives]);
    return rows.map(toSample);
  }

  async findSampleByHash(identityId: number, imageSha256: string): Promise<SampleRecord | undefined> {
    return this.sampleByHash(this.pool, identityId, imageSha256);
  }

  async countSamples({ negatives = false }: { negatives?: boolean } = {}): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>('SELECT COUNT(*) AS n FROM samples WHERE negative = $1', [negatives]);
    return Number(rows[0].n);
  }

  /**
   * As GalleryStore.addSample: the same photo once per identity, the same face (or the same photo
   * re-encoded) never for two identities, the latest word on a photo wins.
   */
  async addSample(sample: NewSample): Promise<{ sample: SampleRecord; duplicate: boolean; replaced?: SampleRecord }> {
    const added = await this.write(async (db) => {
      const added = await this.insertSample(db, sample);
      return { value: added, notices: added.notices };
    });
    this.announceAdded(added);
    return added.result;
  }

  private async insertIdentity(db: Queryable, rawName: unknown): Promise<IdentityRecord> {
    const name = validIdentityName(rawName);
    const existing = await this.identityByName(db, name);
    if (existing) throw identityExists(existing);
    const createdAt = Date.now();
    const { rows } = await db.query<{ id: string }>('INSERT INTO identities (name, name_key, created_at) VALUES ($1, $2, $3) RETURNING id', [name, nameKey(name), createdAt]);
    return { id: Number(rows[0].id), name, createdAt: new Date(createdAt).toISOString(), sampleCount: 0 };
  }

  /** The sample's rows, in the caller's transaction; what to announce once it commits. */
  private async insertSample(db: Queryable, sample: NewSample): Promise<Added> {
    const negative = sample.negative === true;
    const identity = await this.identityById(db, sample.identityId);
    if (!identity) throw identityNotFound(sample.identityId);
    const existing = await this.sampleByHash(db, sample.identityId, sample.imageSha256);
    if (existing && (existing.negative === true) === negative) return { result: { sample: existing, duplicate: true }, identity, sample, notices: [] };
    if (!negative) {
      const { rows } = await db.query<{ id: string; identity_id: string; box: string; name: string }>(
        `SELECT s.id, s.identity_id, s.box, i.name FROM samples s JOIN identities i ON i.id = s.identity_id
         WHERE s.image_sha256 = $1 AND s.identity_id != $2 AND NOT s.negative`,
        [sample.imageSha256, sample.identityId],
      );
      for (const other of rows)
        if (iou(JSON.parse(other.box) as Box, sample.box) >= SAME_FACE_IOU) throw photoOfOtherIdentity({ id: Number(other.identity_id), name: other.name }, Number(other.id));
      const near = await this.closestOtherIdentity(db, sample);
      if (near && near.similarity >= NEAR_DUPLICATE_COSINE) throw photoOfOtherIdentity(near.identity, near.sampleId, near.similarity);
    }
    if (existing) await db.query('DELETE FROM samples WHERE id = $1', [existing.id]);
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO samples (identity_id, image_sha256, box, score, recognizer_id, recognizer_version, embedding, created_at, negative)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
      [sample.identityId, sample.imageSha256, JSON.stringify(sample.box), sample.score, sample.recognizerId, sample.recognizerVersion, embeddingToBytes(sample.embedding), Date.now(), negative],
    );
    const id = Number(rows[0].id);
    // Without a face source (gallery.keepFaceSources off) an empty one is stored: faceSource() says "none".
    await db.query('INSERT INTO sample_images (sample_id, thumbnail_jpeg, source_jpeg, source_landmarks) VALUES ($1, $2, $3, $4)', [
      id,
      sample.thumbnailJpeg,
      sample.source?.jpeg ?? Buffer.alloc(0),
      JSON.stringify((sample.source?.landmarks ?? []).map((p) => [p.x, p.y])),
    ]);
    for (const other of sample.secondaryEmbeddings ?? [])
      await db.query('INSERT INTO secondary_embeddings (sample_id, recognizer_id, recognizer_version, embedding) VALUES ($1, $2, $3, $4)', [
        id,
        other.recognizerId,
        other.recognizerVersion,
        embeddingToBytes(other.embedding),
      ]);
    const stored = (await this.sampleById(db, id))!;
    return {
      result: { sample: stored, duplicate: false, ...(existing ? { replaced: existing } : {}) },
      identity,
      sample,
      notices: [...(existing ? [{ type: 'samples-removed' as const, sampleIds: [existing.id] }] : []), { type: 'samples-changed', sampleIds: [id] }],
    };
  }

  /** The photo of another identity closest to a new sample (same recognizer), whatever its score; as GalleryStore's, a scan. */
  private async closestOtherIdentity(db: Queryable, sample: NewSample): Promise<{ identity: Identity; sampleId: number; similarity: number } | undefined> {
    const { rows } = await db.query<{ id: string; identity_id: string; name: string; embedding: Buffer }>(
      `SELECT s.id, s.identity_id, i.name, s.embedding FROM samples s JOIN identities i ON i.id = s.identity_id
       WHERE s.recognizer_id = $1 AND s.recognizer_version = $2 AND s.identity_id != $3 AND NOT s.negative`,
      [sample.recognizerId, sample.recognizerVersion, sample.identityId],
    );
    let best: { identity: Identity; sampleId: number; similarity: number } | undefined;
    for (const row of rows) {
      const other = bytesToEmbedding(row.embedding);
      if (other.length !== sample.embedding.length) continue;
      let dot = 0;
      for (let i = 0; i < other.length; i++) dot += other[i] * sample.embedding[i];
      if (!best || dot > best.similarity) best = { identity: { id: Number(row.identity_id), name: row.name }, sampleId: Number(row.id), similarity: dot };
    }
    return best;
  }

  /** This process's listeners learn what a committed sample changed (others by the notices). */
  private announceAdded({ result, identity, sample }: Added): void {
    if (result.duplicate) return;
    if (result.replaced) this.emit({ type: 'samples-removed', sampleIds: [result.replaced.id] });
    const embedded = { type: 'sample-embedded', sampleId: result.sample.id, identity: { id: identity.id, name: identity.name }, negative: sample.negative === true } as const;
    for (const other of sample.secondaryEmbeddings ?? [])
      this.emit({ ...embedded, recognizerId: other.recognizerId, recognizerVersion: other.recognizerVersion, secondary: true, embedding: other.embedding });
    this.emit({ ...embedded, recognizerId: sample.recognizerId, recognizerVersion: sample.recognizerVersion, secondary: false, embedding: sample.embedding });
  }

  async deleteSample(identityId: number, sampleId: number): Promise<SampleRecord> {
    const sample = await this.write(async (db) => {
      if (!(await this.identityById(db, identityId))) throw identityNotFound(identityId);
      const found = await this.sampleById(db, sampleId);
      if (!found || found.identityId !== identityId) throw sampleNotFound(sampleId, identityId);
      await db.query('DELETE FROM samples WHERE id = $1', [sampleId]);
      return { value: found, notices: [{ type: 'samples-removed', sampleIds: [sampleId] }] };
    });
    this.emit({ type: 'samples-removed', sampleIds: [sampleId] });
    return sample;
  }

  async thumbnail(sampleId: number): Promise<Buffer | undefined> {
    const { rows } = await this.pool.query<{ thumbnail_jpeg: Buffer }>('SELECT thumbnail_jpeg FROM sample_images WHERE sample_id = $1', [sampleId]);
    return rows[0]?.thumbnail_jpeg;
  }

  async faceSource(sampleId: number): Promise<FaceSource | undefined> {
    const { rows } = await this.pool.query<{ source_jpeg: Buffer; source_landmarks: string }>(
      'SELECT source_jpeg, source_landmarks FROM sample_images WHERE sample_id = $1',
      [sampleId],
    );
    if (!rows[0] || rows[0].source_jpeg.length === 0) return undefined;
    const pairs = JSON.parse(rows[0].source_landmarks) as [number, number][];
    return { jpeg: rows[0].source_jpeg, landmarks: pairs.map(([x, y]) => ({ x, y })) };
  }

  async embeddings(recognizerId: string, recognizerVersion: string): Promise<StoredEmbedding[]> {
    return (await this.embeddingRows(this.pool, { recognizerId, recognizerVersion })).map((r) => ({
      sampleId: Number(r.id),
      identity: { id: Number(r.identity_id), name: r.name },
      embedding: bytesToEmbedding(r.embedding),
      negative: r.negative,
    }));
  }

  async staleSampleIds(recognizerId: string, recognizerVersion: string): Promise<number[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      `SELECT s.id FROM samples s WHERE NOT (s.recognizer_id = $1 AND s.recognizer_version = $2)
         AND NOT EXISTS (SELECT 1 FROM secondary_embeddings x WHERE x.sample_id = s.id AND x.recognizer_id = $1 AND x.recognizer_version = $2)
       ORDER BY s.id`,
      [recognizerId, recognizerVersion],
    );
    return rows.map((r) => Number(r.id));
  }

  async updateEmbedding(sampleId: number, recognizerId: string, recognizerVersion: string, embedding: Float32Array, secondary = false): Promise<boolean> {
    const bytes = embeddingToBytes(embedding);
    const updated = await this.write(async (db) => {
      const { rowCount } = secondary
        ? await db.query(
            `INSERT INTO secondary_embeddings (sample_id, recognizer_id, recognizer_version, embedding)
             SELECT id, $2, $3, $4 FROM samples WHERE id = $1
             ON CONFLICT (sample_id, recognizer_id) DO UPDATE SET recognizer_version = EXCLUDED.recognizer_version, embedding = EXCLUDED.embedding`,
            [sampleId, recognizerId, recognizerVersion, bytes],
          )
        : await db.query('UPDATE samples SET recognizer_id = $2, recognizer_version = $3, embedding = $4 WHERE id = $1', [sampleId, recognizerId, recognizerVersion, bytes]);
      if (!rowCount) return { value: undefined };
      const sample = (await this.sampleById(db, sampleId))!;
      const identity = (await this.identityById(db, sample.identityId))!;
      return { value: { sample, identity }, notices: [{ type: 'samples-changed', sampleIds: [sampleId] }] };
    });
    if (!updated) return false;
    this.emit({
      type: 'sample-embedded',
      sampleId,
      identity: { id: updated.identity.id, name: updated.identity.name },
      recognizerId,
      recognizerVersion,
      secondary,
      embedding,
      negative: updated.sample.negative === true,
    });
    return true;
  }

  /**
   * Runs `work` in a transaction under the write lock, announcing its notices on commit (NOTIFY is
   * delivered only if the transaction commits).
   */
  private async write<T>(work: (db: pg.PoolClient) => Promise<{ value: T; notices?: Omit<Notice, 'origin'>[] }>): Promise<T> {
    const db = await this.pool.connect();
    try {
      await db.query('BEGIN');
      await db.query('SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK]);
      const { value, notices = [] } = await work(db);
      for (const notice of notices) await db.query('SELECT pg_notify($1, $2)', [GALLERY_CHANNEL, noticePayload({ ...notice, origin: this.origin })]);
      await db.query('COMMIT');
      return value;
    } catch (err) {
      await db.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      db.release();
    }
  }

  private async identityById(db: Queryable, id: number): Promise<IdentityRecord | undefined> {
    const { rows } = await db.query<IdentityRow>(`${IDENTITY_SELECT} WHERE i.id = $1`, [id]);
    return rows[0] && toIdentity(rows[0]);
  }

  /** By a canonical name's key. */
  private async identityByName(db: Queryable, name: string): Promise<IdentityRecord | undefined> {
    const { rows } = await db.query<IdentityRow>(`${IDENTITY_SELECT} WHERE i.name_key = $1`, [nameKey(name)]);
    return rows[0] && toIdentity(rows[0]);
  }

  private async sampleById(db: Queryable, sampleId: number): Promise<SampleRecord | undefined> {
    const { rows } = await db.query<SampleRow>(`SELECT ${SAMPLE_COLUMNS} FROM samples WHERE id = $1`, [sampleId]);
    return rows[0] && toSample(rows[0]);
  }

  private async sampleByHash(db: Queryable, identityId: number, imageSha256: string): Promise<SampleRecord | undefined> {
    const { rows } = await db.query<SampleRow>(`SELECT ${SAMPLE_COLUMNS} FROM samples WHERE identity_id = $1 AND image_sha256 = $2`, [identityId, imageSha256]);
    return rows[0] && toSample(rows[0]);
  }

  /** Main and secondary embeddings of one recognizer version, or of every recognizer for the given samples. */
  private async embeddingRows(db: Queryable, of: { recognizerId: string; recognizerVersion: string } | { sampleIds: number[] }) {
    const [main, secondary, params] =
      'sampleIds' in of
        ? ['s.id = ANY($1::bigint[])', 's.id = ANY($1::bigint[])', [of.sampleIds]]
        : ['s.recognizer_id = $1 AND s.recognizer_version = $2', 'x.recognizer_id = $1 AND x.recognizer_version = $2', [of.recognizerId, of.recognizerVersion]];
    const { rows } = await db.query<{ id: string; identity_id: string; name: string; embedding: Buffer; negative: boolean; recognizer_id: string; recognizer_version: string; secondary: boolean }>(
      `SELECT s.id, s.identity_id, i.name, s.embedding, s.negative, s.recognizer_id, s.recognizer_version, FALSE AS secondary
         FROM samples s JOIN identities i ON i.id = s.identity_id WHERE ${main}
       UNION ALL
       SELECT s.id, s.identity_id, i.name, x.embedding, s.negative, x.recognizer_id, x.recognizer_version, TRUE AS secondary
         FROM secondary_embeddings x JOIN samples s ON s.id = x.sample_id JOIN identities i ON i.id = s.identity_id WHERE ${secondary}
       ORDER BY 1`,
      params,
    );
    return rows;
  }

  /** A notice from another process as the changes it stands for; samples gone meanwhile are removed. */
  private async resolve(notice: Notice): Promise<ExternalChange[]> {
    if (notice.type === 'reload' || !notice.sampleIds) return [{ type: 'reload' }];
    if (notice.type === 'samples-removed') return [{ type: 'samples-removed', sampleIds: notice.sampleIds }];
    const rows = await this.embeddingRows(this.pool, { sampleIds: notice.sampleIds });
    const present = new Set(rows.map((r) => Number(r.id)));
    const gone = notice.sampleIds.filter((id) => !present.has(id));
    return [
      ...rows.map(
        (r): ExternalChange => ({
          type: 'sample-embedded',
          sampleId: Number(r.id),
          identity: { id: Number(r.identity_id), name: r.name },
          recognizerId: r.recognizer_id,
          recognizerVersion: r.recognizer_version,
          secondary: r.secondary,
          embedding: bytesToEmbedding(r.embedding),
          negative: r.negative,
        }),
      ),
      ...(gone.length ? [{ type: 'samples-removed' as const, sampleIds: gone }] : []),
    ];
  }

  /**
   * Keeps a connection that LISTENs; when it is lost, another is opened after RELISTEN_MS and the
   * listeners are told to reload (what was notified in between is unknown). `ready` once it first
   * listens; `failed` if that first try fails.
   */
  private async listen(ready: () => void, failed: (err: Error) => void): Promise<void> {
    let lost = false;
    while (!this.closed) {
      const client = new pg.Client({ connectionString: this.url });
      const ended = new Promise<void>((resolve) => {
        client.on('error', (err) => {
          log.warn({ err: err.message }, 'gallery database: the change notifications were lost; listening again');
          resolve();
        });
        client.on('end', () => resolve());
      });
      client.on('notification', (message) => {
        if (message.channel !== GALLERY_CHANNEL || !message.payload) return;
        let notice: Notice;
        try {
          notice = JSON.parse(message.payload) as Notice;
        } catch {
          return;
        }
        if (notice.origin === this.origin) return;
        this.resolve(notice)
          .then((changes) => changes.forEach((c) => this.announce(c)))
          .catch((err: Error) => {
            log.warn({ err: err.message }, 'gallery database: cannot read a notified change; reloading');
            this.announce({ type: 'reload' });
          });
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${GALLERY_CHANNEL}`);
        this.listener = client;
        ready();
        if (lost) this.announce({ type: 'reload' });
        await ended;
      } catch (err) {
        if (!lost) {
          failed(err as Error);
          await client.end().catch(() => undefined);
          return;
        }
        if (!this.closed) log.warn({ err: (err as Error).message }, 'gallery database: cannot listen for changes; retrying');
      }
      this.listener = undefined;
      await client.end().catch(() => undefined);
      lost = true;
      if (!this.closed) await new Promise((r) => setTimeout(r, RELISTEN_MS));
    }
  }

  private announce(change: ExternalChange): void {
    for (const listener of this.external) listener(change);
  }

  private emit(change: GalleryChange): void {
    for (const listener of this.listeners) listener(change);
  }
}

function noticePayload(notice: Notice): string {
  if (notice.sampleIds && notice.sampleIds.length > MAX_NOTIFIED_IDS) return JSON.stringify({ origin: notice.origin, type: 'reload' });
  return JSON.stringify(notice);
}

async function migrate(pool: pg.Pool): Promise<void> {
  const db = await pool.connect();
  try {
    await db.query('BEGIN');
    // Several workers start at once: one migrates, the others wait and find it done.
    await db.query('SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK]);
    await db.query('CREATE TABLE IF NOT EXISTS gallery_schema (version INTEGER NOT NULL)');
    const { rows } = await db.query<{ version: number }>('SELECT version FROM gallery_schema');
    if (!rows.length) await db.query('INSERT INTO gallery_schema (version) VALUES (0)');
    const current = rows[0]?.version ?? 0;
    if (current > MIGRATIONS.length) throw new Error(`its schema version ${current} is newer than this unmask knows (${MIGRATIONS.length}): upgrade unmask`);
    for (let version = current; version < MIGRATIONS.length; version++) await db.query(MIGRATIONS[version]);
    await db.query('UPDATE gallery_schema SET version = $1', [MIGRATIONS.length]);
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    db.release();
  }
}

/** The schema version this code writes (for `gallery migrate`). */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;
