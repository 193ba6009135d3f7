// Per-image results of the evaluation kept between runs (SQLite under var/eval-cache/): detector
// landmarks, Table II quality and embeddings, each under a key that names everything it depends on
// (model digests, image content, hole seed), so a re-run with one new model computes only that
// model's rows and a changed model or image is never served stale numbers.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Point } from '../../src/types.ts';

export interface Quality {
  psnr: number;
  ssim: number;
}

export interface EvalCache {
  /** undefined: not cached; null: cached as "no face found". */
  getLandmarks(key: string): Point[] | null | undefined;
  putLandmarks(key: string, landmarks: Point[] | null): void;
  getQuality(key: string): Quality | undefined;
  putQuality(key: string, quality: Quality): void;
  getEmbedding(key: string): Float32Array | undefined;
  putEmbedding(key: string, embedding: Float32Array): void;
  close(): void;
}

/** Everything in memory, forgotten at close: for --no-cache and tests. */
export class MemoryEvalCache implements EvalCache {
  private readonly landmarks = new Map<string, Point[] | null>();
  private readonly quality = new Map<string, Quality>();
  private readonly embeddings = new Map<string, Float32Array>();
  getLandmarks = (key: string) => this.landmarks.get(key);
  putLandmarks = (key: string, value: Point[] | null) => void this.landmarks.set(key, value);
  getQuality = (key: string) => this.quality.get(key);
  putQuality = (key: string, value: Quality) => void this.quality.set(key, value);
  getEmbedding = (key: string) => this.embeddings.get(key);
  putEmbedding = (key: string, value: Float32Array) => void this.embeddings.set(key, Float32Array.from(value));
  close(): void {}
}

export class SqliteEvalCache implements EvalCache {
  private readonly db: Database.Database;
  private readonly statements;

  constructor(file: string) {
    mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    // WAL: a crash mid-run keeps every row written so far.
    this.db.pragma('journal_mode = WAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS landmarks (key TEXT PRIMARY KEY, points TEXT);
      CREATE TABLE IF NOT EXISTS quality (key TEXT PRIMARY KEY, psnr REAL NOT NULL, ssim REAL NOT NULL);
      CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB NOT NULL);`);
    this.statements = {
      getLandmarks: this.db.prepare<[string], { points: string | null }>('SELECT points FROM landmarks WHERE key = ?'),
      putLandmarks: this.db.prepare('INSERT OR REPLACE INTO landmarks (key, points) VALUES (?, ?)'),
      getQuality: this.db.prepare<[string], Quality>('SELECT psnr, ssim FROM quality WHERE key = ?'),
      putQuality: this.db.prepare('INSERT OR REPLACE INTO quality (key, psnr, ssim) VALUES (?, ?, ?)'),
      getEmbedding: this.db.prepare<[string], { vector: Buffer }>('SELECT vector FROM embeddings WHERE key = ?'),
      putEmbedding: this.db.prepare('INSERT OR REPLACE INTO embeddings (key, vector) VALUES (?, ?)'),
    };
  }

  getLandmarks(key: string): Point[] | null | undefined {
    const row = this.statements.getLandmarks.get(key);
    if (!row) return undefined;
    return row.points === null ? null : (JSON.parse(row.points) as Point[]);
  }

  putLandmarks(key: string, landmarks: Point[] | null): void {
    this.statements.putLandmarks.run(key, landmarks === null ? null : JSON.stringify(landmarks));
  }

  getQuality(key: string): Quality | undefined {
    const row = this.statements.getQuality.get(key);
    return row ? { psnr: row.psnr, ssim: row.ssim } : undefined;
  }

  putQuality(key: string, { psnr, ssim }: Quality): void {
    // SQLite stores +Infinity as a REAL, but keep it finite anyway: callers cap PSNR before.
    this.statements.putQuality.run(key, psnr, ssim);
  }

  getEmbedding(key: string): Float32Array | undefined {
    const row = this.statements.getEmbedding.get(key);
    if (!row) return undefined;
    // Copy out: the Buffer may not be 4-byte aligned for a Float32Array view.
    const bytes = Uint8Array.from(row.vector);
    return new Float32Array(bytes.buffer, 0, bytes.length / 4);
  }

  putEmbedding(key: string, embedding: Float32Array): void {
    this.statements.putEmbedding.run(key, Buffer.from(embedding.buffer, embedding.byteOffset, embedding.byteLength));
  }

  close(): void {
    this.db.close();
  }
}

/** The cache keys: '|'-joined parts, each naming one thing the cached value depends on. */
export const cacheKeys = {
  landmarks: (detectorId: string, image: string, imageSha: string) => `${detectorId}|${image}|${imageSha}`,
  quality: (setup: string, conditionId: string, image: string, imageSha: string, seed: number) => `${setup}|${conditionId}|${image}|${imageSha}|${seed}`,
  embedding: (recognizerVersion: string, setup: string, conditionId: string, image: string, imageSha: string, seed: number | '-') =>
    `${recognizerVersion}|${setup}|${conditionId}|${image}|${imageSha}|${seed}`,
};
