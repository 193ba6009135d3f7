// The event history: every alert, known or unknown, with its crops (the face as seen, the repaired
// face and the mask when it was inpainted, and the face source a "this is X" enrolls), and the most
// recent recognition attempts that raised no alert (the Train tab). One SQLite file apart from the
// gallery: it is written at every alert, and the gallery's readers poll their file for changes.
//
// Deleted rows are overwritten (PRAGMA secure_delete) and the write-ahead log is truncated after
// every deletion, so a deleted face leaves no bytes behind in the file.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { MatchedOn } from '../pipeline/messages.ts';
import type { Box, Identity, Point } from '../types.ts';
import { migrateSchema } from '../storage/sqlite.ts';

export type EventKind = 'alert' | 'attempt';

/** What an operator said about an event. */
export type FeedbackAction = 'is' | 'not' | 'new';

export interface EventFeedback {
  action: FeedbackAction;
  /** The identity the face was said to be (is, new) or not to be (not). */
  identity: Identity;
  /** The gallery sample it made: a photo of the identity (is, new), or a negative sample (not). */
  sampleId: number;
  /** ISO-8601 time of the feedback. */
  at: string;
}

/** What an event says of the face, as stored and as served. */
interface EventFields {
  kind: EventKind;
  camera: string;
  trackId: number;
  /** alert: the identity named (null: unknown); attempt: the closest identity, whatever its score. */
  identity: Identity | null;
  /** alert: named; attempt: its score reached match.threshold. */
  known: boolean;
  score: number;
  votes: number;
  matchedOn: MatchedOn;
  occludedFraction?: number;
  /** The face in the camera frame. */
  box: Box;
  /** The detector's confidence in the face. */
  detectorScore: number;
}

export interface NewEvent extends EventFields {
  /** ms since epoch. */
  frameTime: number;
  faceJpeg: Buffer;
  inpaintedJpeg?: Buffer;
  maskPng?: Buffer;
  /** The face with a margin, cut from the frame as it came (never repaired), with the face's box and landmarks in it. */
  source?: { jpeg: Buffer; box: Box; landmarks: Point[] };
}

export interface EventRecord extends EventFields {
  id: number;
  /** ISO-8601. */
  frameTime: string;
  /** Which crops the event has. */
  images: { face: boolean; inpainted: boolean; mask: boolean; source: boolean };
  feedback?: EventFeedback;
}

export type EventImage = 'face' | 'inpainted' | 'mask' | 'source';

export interface EventQuery {
  kind?: EventKind;
  camera?: string;
  identityId?: number;
  known?: boolean;
  /** ms since epoch, inclusive. */
  since?: number;
  /** ms since epoch, exclusive. */
  until?: number;
  limit?: number;
  /** From a previous page's nextCursor. */
  cursor?: string;
}

export interface EventPage {
  events: EventRecord[];
  /** Pass as `cursor` for the next (older) page; null on the last one. */
  nextCursor: string | null;
}

export interface RetentionSettings {
  /** Events older than this are deleted; 0: no age limit. */
  retentionDays: number;
  /** Alerts kept at most. */
  maxEvents: number;
  /** Attempts kept at most. */
  keepAttempts: number;
}

export interface SweepReport {
  expired: number;
  overLimit: number;
  /** Events of identities deleted from the gallery (by another process, such as `unmask enroll`). */
  orphaned: number;
}

export const MAX_PAGE = 200;
export const DEFAULT_PAGE = 50;

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE events (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    kind               TEXT NOT NULL CHECK (kind IN ('alert', 'attempt')),
    camera             TEXT NOT NULL,
    track_id           INTEGER NOT NULL,
    identity_id        INTEGER,                 -- the gallery's id (another file: no foreign key)
    identity_name      TEXT,
    known              INTEGER NOT NULL,
    score              REAL NOT NULL,
    votes              INTEGER NOT NULL,
    matched_on         TEXT NOT NULL,
    occluded_fraction  REAL,
    frame_time         INTEGER NOT NULL,        -- ms since epoch
    box                TEXT NOT NULL,           -- JSON {x, y, width, height} in the frame
    detector_score     REAL NOT NULL,
    source_box         TEXT,                    -- JSON, the face in source_jpeg
    source_landmarks   TEXT,                    -- JSON [[x, y], …] in source_jpeg
    feedback           TEXT,                    -- JSON EventFeedback
    feedback_identity  INTEGER                  -- the identity the feedback names: its deletion deletes the event
  );
  CREATE INDEX events_by_kind ON events(kind, id);
  CREATE INDEX events_by_time ON events(kind, frame_time);
  CREATE INDEX events_by_identity ON events(identity_id);
  CREATE INDEX events_by_feedback_identity ON events(feedback_identity);
  CREATE TABLE event_images (
    event_id        INTEGER PRIMARY KEY REFERENCES events(id) ON DELETE CASCADE,
    face_jpeg       BLOB NOT NULL,
    inpainted_jpeg  BLOB,
    mask_png        BLOB,
    source_jpeg     BLOB
  );
  `,
];

interface EventRow {
  id: number;
  kind: EventKind;
  camera: string;
  track_id: number;
  identity_id: number | null;
  identity_name: string | null;
  known: number;
  score: number;
  votes: number;
  matched_on: MatchedOn;
  occluded_fraction: number | null;
  frame_time: number;
  box: string;
  detector_score: number;
  feedback: string | null;
  has_inpainted: number;
  has_mask: number;
  has_source: number;
}

const EVENT_COLUMNS = `e.id, e.kind, e.camera, e.track_id, e.identity_id, e.identity_name, e.known, e.score, e.votes,
  e.matched_on, e.occluded_fraction, e.frame_time, e.box, e.detector_score, e.feedback,
  i.inpainted_jpeg IS NOT NULL AS has_inpainted, i.mask_png IS NOT NULL AS has_mask, i.source_jpeg IS NOT NULL AS has_source`;

const IMAGE_COLUMNS: Record<EventImage, string> = {
  face: 'face_jpeg',
  inpainted: 'inpainted_jpeg',
  mask: 'mask_png',
  source: 'source_jpeg',
};

function toEvent(row: EventRow): EventRecord {
  return {
    id: row.id,
    kind: row.kind,
    camera: row.camera,
    trackId: row.track_id,
    identity: row.identity_id === null ? null : { id: row.identity_id, name: row.identity_name ?? '' },
    known: row.known === 1,
    score: row.score,
    votes: row.votes,
    matchedOn: row.matched_on,
    ...(row.occluded_fraction === null ? {} : { occludedFraction: row.occluded_fraction }),
    frameTime: new Date(row.frame_time).toISOString(),
    box: JSON.parse(row.box) as Box,
    detectorScore: row.detector_score,
    images: { face: true, inpainted: row.has_inpainted === 1, mask: row.has_mask === 1, source: row.has_source === 1 },
    ...(row.feedback ? { feedback: JSON.parse(row.feedback) as EventFeedback } : {}),
  };
}

/** A page cursor: the id of the last event of the page, opaque to clients. */
export function encodeCursor(id: number): string {
  return Buffer.from(`e${id}`).toString('base64url');
}

/** The id in a cursor, or undefined when it is not one of ours. */
export function decodeCursor(cursor: string): number | undefined {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^e(\d{1,15})$/.exec(text);
  return match ? Number(match[1]) : undefined;
}

export class EventStore {
  readonly path: string;
  private readonly db: Database.Database;

  private constructor(path: string, db: Database.Database) {
    this.path = path;
    this.db = db;
  }

  static open(path: string): EventStore {
    if (!existsSync(path)) mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      // A deleted face's bytes are overwritten with zeros, not left in free pages.
      db.pragma('secure_delete = ON');
      migrateSchema(db, MIGRATIONS);
      return new EventStore(path, db);
    } catch (err) {
      db.close();
      throw new Error(`cannot open the events database ${path}: ${(err as Error).message}`);
    }
  }

  close(): void {
    this.db.close();
  }

  /** Whether deleted rows are overwritten on this connection (1). */
  secureDelete(): number {
    return this.db.pragma('secure_delete', { simple: true }) as number;
  }

  /** Stores an event; an attempt beyond `keepAttempts` pushes the oldest attempt out. */
  add(event: NewEvent, keepAttempts = Infinity): EventRecord {
    const id = this.db.transaction(() => {
      const { lastInsertRowid } = this.db
        .prepare(
          `INSERT INTO events (kind, camera, track_id, identity_id, identity_name, known, score, votes, matched_on,
             occluded_fraction, frame_time, box, detector_score, source_box, source_landmarks)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          event.kind,
          event.camera,
          event.trackId,
          event.identity?.id ?? null,
          event.identity?.name ?? null,
          event.known ? 1 : 0,
          event.score,
          event.votes,
          event.matchedOn,
          event.occludedFraction ?? null,
          event.frameTime,
          JSON.stringify(event.box),
          event.detectorScore,
          event.source ? JSON.stringify(event.source.box) : null,
          event.source ? JSON.stringify(event.source.landmarks.map((p) => [p.x, p.y])) : null,
        );
      const eventId = Number(lastInsertRowid);
      this.db
        .prepare('INSERT INTO event_images (event_id, face_jpeg, inpainted_jpeg, mask_png, source_jpeg) VALUES (?, ?, ?, ?, ?)')
        .run(eventId, event.faceJpeg, event.inpaintedJpeg ?? null, event.maskPng ?? null, event.source?.jpeg ?? null);
      if (event.kind === 'attempt' && Number.isFinite(keepAttempts)) this.trim('attempt', keepAttempts);
      return eventId;
    })();
    return this.get(id)!;
  }

  get(id: number): EventRecord | undefined {
    const row = this.db
      .prepare<[number], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events e JOIN event_images i ON i.event_id = e.id WHERE e.id = ?`)
      .get(id);
    return row && toEvent(row);
  }

  /** Newest first, one page at a time. */
  list(query: EventQuery = {}): EventPage {
    const where: string[] = ['e.kind = ?'];
    const args: (string | number)[] = [query.kind ?? 'alert'];
    if (query.camera !== undefined) where.push('e.camera = ?'), args.push(query.camera);
    if (query.identityId !== undefined) where.push('e.identity_id = ?'), args.push(query.identityId);
    if (query.known !== undefined) where.push('e.known = ?'), args.push(query.known ? 1 : 0);
    if (query.since !== undefined) where.push('e.frame_time >= ?'), args.push(query.since);
    if (query.until !== undefined) where.push('e.frame_time < ?'), args.push(query.until);
    if (query.cursor !== undefined) {
      const after = decodeCursor(query.cursor);
      if (after === undefined) throw new RangeError('cursor: not a cursor of this service (pass nextCursor of the previous page)');
      where.push('e.id < ?'), args.push(after);
    }
    const limit = Math.min(MAX_PAGE, Math.max(1, query.limit ?? DEFAULT_PAGE));
    const rows = this.db
      .prepare<(string | number)[], EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM events e JOIN event_images i ON i.event_id = e.id
         WHERE ${where.join(' AND ')} ORDER BY e.id DESC LIMIT ?`,
      )
      .all(...args, limit + 1);
    const more = rows.length > limit;
    const events = rows.slice(0, limit).map(toEvent);
    return { events, nextCursor: more ? encodeCursor(events[events.length - 1].id) : null };
  }

  count(kind: EventKind): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM events WHERE kind = ?').get(kind) as { n: number }).n;
  }

  image(id: number, which: EventImage): Buffer | undefined {
    const row = this.db
      .prepare<[number], { bytes: Buffer | null }>(`SELECT ${IMAGE_COLUMNS[which]} AS bytes FROM event_images WHERE event_id = ?`)
      .get(id);
    return row?.bytes ?? undefined;
  }

  /** The face source of an event: the bytes, and the face's box and landmarks in them. */
  source(id: number): { jpeg: Buffer; box: Box; landmarks: Point[]; detectorScore: number } | undefined {
    const row = this.db
      .prepare<[number], { source_jpeg: Buffer | null; source_box: string | null; source_landmarks: string | null; detector_score: number }>(
        `SELECT i.source_jpeg, e.source_box, e.source_landmarks, e.detector_score FROM events e JOIN event_images i ON i.event_id = e.id WHERE e.id = ?`,
      )
      .get(id);
    if (!row?.source_jpeg || !row.source_box || !row.source_landmarks) return undefined;
    const pairs = JSON.parse(row.source_landmarks) as [number, number][];
    return {
      jpeg: row.source_jpeg,
      box: JSON.parse(row.source_box) as Box,
      landmarks: pairs.map(([x, y]) => ({ x, y })),
      detectorScore: row.detector_score,
    };
  }

  setFeedback(id: number, feedback: EventFeedback): EventRecord | undefined {
    this.db.prepare('UPDATE events SET feedback = ?, feedback_identity = ? WHERE id = ?').run(JSON.stringify(feedback), feedback.identity.id, id);
    return this.get(id);
  }

  /** Deletes one event and its crops; false when there was none. */
  delete(id: number): boolean {
    const { changes } = this.db.prepare('DELETE FROM events WHERE id = ?').run(id);
    if (changes) this.truncateLog();
    return changes > 0;
  }

  /**
   * Deletes the events of an identity deleted from the gallery: those that named it or came closest
   * to it, and those whose feedback made a sample of it. Their crops are overwritten.
   */
  deleteIdentity(identityId: number): number {
    const { changes } = this.db.prepare('DELETE FROM events WHERE identity_id = ? OR feedback_identity = ?').run(identityId, identityId);
    if (changes) this.truncateLog();
    return changes;
  }

  /**
   * Enforces retention at `now`: events older than retentionDays, alerts beyond maxEvents and attempts
   * beyond keepAttempts (the oldest first), and, given the gallery's identities, the events of
   * identities no longer in it.
   */
  sweep(settings: RetentionSettings, now = Date.now(), galleryIdentityIds?: readonly number[]): SweepReport {
    const report = this.db.transaction(() => {
      let expired = 0;
      if (settings.retentionDays > 0)
        expired = this.db.prepare('DELETE FROM events WHERE frame_time < ?').run(now - settings.retentionDays * 86_400_000).changes;
      const overLimit = this.trim('alert', settings.maxEvents) + this.trim('attempt', settings.keepAttempts);
      let orphaned = 0;
      if (galleryIdentityIds)
        orphaned = this.db
          .prepare(
            `DELETE FROM events WHERE (identity_id IS NOT NULL AND identity_id NOT IN (SELECT value FROM json_each(?)))
               OR (feedback_identity IS NOT NULL AND feedback_identity NOT IN (SELECT value FROM json_each(?)))`,
          )
          .run(JSON.stringify(galleryIdentityIds), JSON.stringify(galleryIdentityIds)).changes;
      return { expired, overLimit, orphaned };
    })();
    if (report.expired + report.overLimit + report.orphaned > 0) this.truncateLog();
    return report;
  }

  /** Keeps the newest `keep` events of a kind; returns how many went. */
  private trim(kind: EventKind, keep: number): number {
    return this.db
      .prepare(`DELETE FROM events WHERE kind = ? AND id <= (SELECT id FROM events WHERE kind = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`)
      .run(kind, kind, keep).changes;
  }

  /** Moves the log into the file and empties it: the overwritten pages replace the deleted ones there too. */
  private truncateLog(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }
}
