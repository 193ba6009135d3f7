// `unmask gallery migrate --from FILE.db --to postgres://…`: a SQLite gallery copied into an empty
// PostgreSQL one, everything it holds (identities, samples with their embeddings and images,
// secondary embeddings, negative samples) with the same ids, in one transaction.
import Database from 'better-sqlite3';
import pg from 'pg';
import { GalleryError } from './errors.ts';
import { withoutPassword } from './gallery.ts';
import { GALLERY_CHANNEL, PostgresGallery } from './postgres.ts';
import { GalleryStore } from './store.ts';

export interface MigrationReport {
  identities: number;
  samples: number;
  negatives: number;
  secondaryEmbeddings: number;
}

/** Rows are sent this many at a time. */
const BATCH = 200;

export async function migrateGallery(fromFile: string, toUrl: string, progress?: (line: string) => void): Promise<MigrationReport> {
  // Opening it brings an older file to this version's schema first (as the service would).
  GalleryStore.open(fromFile, { create: false }).close();
  const source = new Database(fromFile, { readonly: true, fileMustExist: true });
  // The schema of the target, made (or checked) as every worker makes it.
  await (await PostgresGallery.connect(toUrl)).close();
  const target = new pg.Client({ connectionString: toUrl });
  await target.connect();
  try {
    await target.query('BEGIN');
    const { rows } = await target.query<{ n: string }>('SELECT COUNT(*) AS n FROM identities');
    if (Number(rows[0].n) > 0)
      throw new GalleryError('gallery_unreadable', 409, `the gallery ${withoutPassword(toUrl)} already holds ${rows[0].n} identities: migrate into an empty database`);
    const report: MigrationReport = { identities: 0, samples: 0, negatives: 0, secondaryEmbeddings: 0 };
    const copy = async (table: string, columns: string[], select: string, count: (row: Record<string, unknown>) => void) => {
      const all = source.prepare(select).all() as Record<string, unknown>[];
      for (let start = 0; start < all.length; start += BATCH) {
        const batch = all.slice(start, start + BATCH);
        const values = batch.map((_, r) => `(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`);
        await target.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values.join(', ')}`, batch.flatMap((row) => columns.map((c) => row[c])));
        batch.forEach(count);
      }
      progress?.(`${table}: ${all.length}`);
    };
    await copy('identities', ['id', 'name', 'name_key', 'created_at'], 'SELECT id, name, name_key, created_at FROM identities ORDER BY id', () => report.identities++);
    await copy(
      'samples',
      ['id', 'identity_id', 'image_sha256', 'box', 'score', 'recognizer_id', 'recognizer_version', 'embedding', 'created_at', 'negative'],
      'SELECT id, identity_id, image_sha256, box, score, recognizer_id, recognizer_version, embedding, created_at, negative = 1 AS negative FROM samples ORDER BY id',
      (row) => (row.negative ? report.negatives++ : report.samples++),
    );
    await copy('sample_images', ['sample_id', 'thumbnail_jpeg', 'source_jpeg', 'source_landmarks'], 'SELECT sample_id, thumbnail_jpeg, source_jpeg, source_landmarks FROM sample_images ORDER BY sample_id', () => undefined);
    await copy(
      'secondary_embeddings',
      ['sample_id', 'recognizer_id', 'recognizer_version', 'embedding'],
      'SELECT sample_id, recognizer_id, recognizer_version, embedding FROM secondary_embeddings ORDER BY sample_id',
      () => report.secondaryEmbeddings++,
    );
    // The next ids follow the copied ones (ids are never reused).
    for (const table of ['identities', 'samples'])
      await target.query(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), GREATEST((SELECT MAX(id) FROM ${table}), 1), (SELECT MAX(id) FROM ${table}) IS NOT NULL)`);
    await target.query('SELECT pg_notify($1, $2)', [GALLERY_CHANNEL, JSON.stringify({ origin: 'migrate', type: 'reload' })]);
    await target.query('COMMIT');
    return report;
  } catch (err) {
    await target.query('ROLLBACK').catch(() => undefined);
    if (err instanceof GalleryError) throw err;
    throw new GalleryError('gallery_unreadable', 500, `cannot copy the gallery into ${withoutPassword(toUrl)}: ${(err as Error).message} (nothing was copied)`);
  } finally {
    source.close();
    await target.end();
  }
}
