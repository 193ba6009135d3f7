// kill -9 during enrollment (issue 19, failure 10), from the command line and over HTTP: afterwards
// the gallery passes SQLite's integrity check, every face the command printed or the API acknowledged
// is there, and the command leaves no identity without a photo (it creates one with its first photo).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollPhoto, PHOTOS } from './support/enroll-cli-main.ts';
import { NODE_TSX, startChildService } from './support/service.ts';

const CLI = join(import.meta.dirname, 'support/enroll-cli-main.ts');
const [NODE, ...LOADER] = NODE_TSX;

interface GalleryState {
  integrity: string;
  identities: { id: number; name: string; samples: number }[];
  sampleIds: number[];
}

/** What a separate connection finds in the file, as the next process to open it would. */
function galleryState(path: string): GalleryState {
  const db = new Database(path, { readonly: true });
  try {
    return {
      integrity: db.pragma('integrity_check', { simple: true }) as string,
      identities: db
        .prepare('SELECT i.id, i.name, (SELECT COUNT(*) FROM samples s WHERE s.identity_id = i.id) AS samples FROM identities i ORDER BY i.id')
        .all() as GalleryState['identities'],
      sampleIds: (db.prepare('SELECT id FROM samples ORDER BY id').all() as { id: number }[]).map((r) => r.id),
    };
  } finally {
    db.close();
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const identityCount = (path: string): number => {
  if (!existsSync(path)) return 0;
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      return (db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'identities'").get() as { n: number }).n
        ? (db.prepare('SELECT COUNT(*) AS n FROM identities').get() as { n: number }).n
        : 0;
    } finally {
      db.close();
    }
  } catch {
    return 0; // being created
  }
};

describe('kill -9 of `unmask enroll`', () => {
  let dir: string;
  let files: string[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'unmask-kill-enroll-'));
    files = [];
    for (let i = 0; i < PHOTOS; i++) {
      const file = join(dir, `photo-${i}.jpg`);
      writeFileSync(file, (await enrollPhoto(i)).bytes);
      files.push(file);
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the command and kills it with SIGKILL once `when` holds; returns the sample ids it printed as enrolled. */
  async function killDuring(gallery: string, name: string, when: (printed: number[]) => boolean): Promise<number[]> {
    const child: ChildProcess = spawn(NODE, [...LOADER, CLI, 'enroll', '--name', name, '--gallery', gallery, ...files], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', () => undefined);
    const exited = new Promise<string | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    const printed = () => [...stdout.matchAll(/^✓ .*\(sample (\d+)\)/gm)].map((m) => Number(m[1]));
    for (;;) {
      if (when(printed())) break;
      if (child.exitCode !== null) throw new Error(`the command ended before the kill: ${stdout}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(isRunning(child.pid!)).toBe(false);
    return printed();
  }

  it('killed the moment its identity is visible: the identity already has its photo', async () => {
    const gallery = join(dir, 'first.db');
    await killDuring(gallery, 'Ada Lovelace', () => identityCount(gallery) > 0);
    const state = galleryState(gallery);
    expect(state.integrity).toBe('ok');
    expect(state.identities).toEqual([{ id: 1, name: 'Ada Lovelace', samples: 1 }]);
  });

  for (const after of [1, 3, 6]) {
    it(`killed in the middle of the photo after the ${after} printed: integrity ok, every printed face there, no identity without a photo`, async () => {
      const gallery = join(dir, `after-${after}.db`);
      // Mid-photo: each photo takes 250 ms to embed; kill 100 ms after the last line came.
      let seen = -1, since = 0;
      const printed = await killDuring(gallery, 'Grace Hopper', (ids) => {
        if (ids.length !== seen) (seen = ids.length), (since = Date.now());
        return ids.length >= after && Date.now() - since >= 100;
      });
      expect(printed.length).toBeGreaterThanOrEqual(after);
      const state = galleryState(gallery);
      expect(state.integrity).toBe('ok');
      for (const id of printed) expect(state.sampleIds).toContain(id);
      expect(state.identities.filter((i) => i.samples === 0)).toEqual([]);
      expect(state.identities.length).toBeLessThanOrEqual(1);

      // Run again: it carries on where the killed one stopped.
      const again = spawn(NODE, [...LOADER, CLI, 'enroll', '--name', 'grace hopper', '--gallery', gallery, ...files], { stdio: ['ignore', 'pipe', 'pipe'] });
      const code = await new Promise<number | null>((resolve) => again.once('exit', resolve));
      expect(code).toBe(0);
      expect(galleryState(gallery).identities).toEqual([{ id: 1, name: 'Grace Hopper', samples: PHOTOS }]);
    });
  }
});

const demoDir = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');

describe('kill -9 of the service during HTTP enrollment', () => {
  it('every acknowledged face is in the gallery after the kill, and the file is intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unmask-kill-http-'));
    const gallery = join(dir, 'gallery.db');
    const key = 'fault-kill-http-key-0123456789';
    const service = await startChildService(
      { gallery: { path: gallery }, server: { port: 0 }, ui: { enabled: false }, events: { enabled: false }, detect: { workers: 1 }, log: { level: 'warn' } },
      { UNMASK_API_KEY: key },
    );
    const headers = { 'x-api-key': key };
    const acknowledged: number[] = [];
    const emptyOnPurpose = new Set<number>();
    let killed = false;
    try {
      const photos = [1, 2, 3].map((i) => readFileSync(join(demoDir, `sample${i}.jpg`)));
      const uploads = (async () => {
        for (const [p, photo] of photos.entries())
          for (let face = 0; face < 3; face++) {
            const created = await fetch(`${service.url}/api/identities`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ name: `Photo ${p + 1}, person ${face + 1}` }) });
            const { id } = (await created.json()) as { id: number };
            emptyOnPurpose.add(id); // until its face is acknowledged
            const response = await fetch(`${service.url}/api/identities/${id}/faces?face=${face}`, { method: 'POST', headers: { ...headers, 'content-type': 'image/jpeg' }, body: photo });
            if (response.status !== 201) throw new Error(`enrollment refused: ${response.status} ${await response.text()}`);
            acknowledged.push(((await response.json()) as { sample: { id: number } }).sample.id);
            emptyOnPurpose.delete(id);
          }
      })().catch((err: Error) => {
        if (!killed) throw err;
      });
      // Kill in the middle of the fifth upload.
      while (acknowledged.length < 4) await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => setTimeout(resolve, 150));
      killed = true;
      service.child.kill('SIGKILL');
      await service.exited;
      expect(service.child.pid).toBe(service.pid); // the service itself was killed, not a wrapper
      expect(isRunning(service.pid)).toBe(false);
      await uploads;
      const state = galleryState(gallery);
      expect(state.integrity).toBe('ok');
      expect(acknowledged.length).toBeGreaterThanOrEqual(4);
      for (const id of acknowledged) expect(state.sampleIds).toContain(id);
      // An identity without a face is one the API was asked to create and whose face was not acknowledged.
      for (const identity of state.identities.filter((i) => i.samples === 0)) expect(emptyOnPurpose).toContain(identity.id);
    } finally {
      await service.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
