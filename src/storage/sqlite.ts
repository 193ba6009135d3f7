// What the service's two SQLite files (the gallery, the event history) share: their schema versions.
import type Database from 'better-sqlite3';

/** A schema step: SQL, or code for what SQL alone cannot do (keys computed from existing rows). */
export type Migration = string | ((db: Database.Database) => void);

/**
 * Brings the file's schema (PRAGMA user_version) up to `migrations.length`, each step in its own
 * transaction; refuses a file made by a newer unmask. Returns the version the file was at.
 */
export function migrateSchema(db: Database.Database, migrations: readonly Migration[]): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length)
    throw new Error(`its schema version ${current} is newer than this unmask knows (${migrations.length}): upgrade unmask`);
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      const step = migrations[version];
      if (typeof step === 'string') db.exec(step);
      else step(db);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
  return current;
}
