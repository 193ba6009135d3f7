import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { registerGalleryCommands } from '../../src/cli/enroll.ts';
import { GalleryStore } from '../../src/gallery/store.ts';
import { FakeDetector, FakeRecognizer, makePhoto, tempDir } from './gallery-fakes.ts';

describe('gallery CLI', () => {
  let tmp: ReturnType<typeof tempDir>;
  let gallery: string;
  let detector: FakeDetector;
  let modelsOpen: number;
  let stdout: string;
  let stderr: string;

  beforeEach(() => {
    tmp = tempDir();
    gallery = tmp.file('gallery.db');
    detector = new FakeDetector();
    modelsOpen = 0;
    stdout = '';
    stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      stdout += String(chunk);
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      stderr += String(chunk);
      return true;
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
    tmp.remove();
  });

  async function unmask(...args: string[]): Promise<number> {
    process.exitCode = undefined;
    const program = new Command().exitOverride();
    registerGalleryCommands(program, {
      loadModels: async () => {
        modelsOpen++;
        return { enrollDetector: detector, recognizer: new FakeRecognizer(), close: async () => void modelsOpen-- };
      },
    });
    await program.parseAsync(args, { from: 'user' });
    return Number(process.exitCode ?? 0);
  }

  async function photoFile(name: string, width: number, faces: Parameters<typeof makePhoto>[2]): Promise<string> {
    const photo = await makePhoto(width, 480, faces);
    detector.register(photo);
    const file = tmp.file(name);
    writeFileSync(file, photo.bytes);
    return file;
  }

  it('enrolls each file, prints a line per file and each failure’s reason, and exits 1 when one failed', async () => {
    const good1 = await photoFile('a.jpg', 640, [{ x: 250, y: 100, size: 180, person: 1 }]);
    const good2 = await photoFile('b.jpg', 641, [{ x: 200, y: 120, size: 170, person: 1 }]);
    const faceless = await photoFile('c.jpg', 642, []);
    const absent = tmp.file('absent.jpg');

    const code = await unmask('enroll', '--name', 'Alice', '--gallery', gallery, good1, good2, faceless, absent, good1);
    expect(code).toBe(1);
    expect(modelsOpen).toBe(0); // closed again
    expect(stdout).toContain(`✓ ${good1}: enrolled for "Alice"`);
    expect(stdout).toContain(`✓ ${good2}: enrolled for "Alice"`);
    expect(stdout).toContain(`= ${good1}: already enrolled for "Alice"`);
    expect(stderr).toContain(`✗ ${faceless}: no face found in the image`);
    expect(stderr).toMatch(new RegExp(`✗ ${absent}: cannot read .*ENOENT`));
    expect(stdout).toMatch(/"Alice" \(identity \d+, new\): 2 enrolled, 1 already there, 2 failed/);

    const store = GalleryStore.open(gallery, { create: false });
    expect(store.listIdentities()).toMatchObject([{ name: 'Alice', sampleCount: 2 }]);
    store.close();
  });

  it('exits 0 when every file is enrolled, adding to an existing identity', async () => {
    const first = await photoFile('a.jpg', 640, [{ x: 250, y: 100, size: 180, person: 1 }]);
    const group = await photoFile('group.jpg', 900, [
      { x: 100, y: 100, size: 150, person: 2 },
      { x: 500, y: 100, size: 150, person: 1 },
    ]);
    expect(await unmask('enroll', '--name', 'Alice', '--gallery', gallery, first)).toBe(0);
    expect(await unmask('enroll', '--name', 'alice', '--gallery', gallery, '--face', '1', group)).toBe(0);
    expect(stdout).toMatch(/"Alice" \(identity 1\): 1 enrolled/);
    const store = GalleryStore.open(gallery, { create: false });
    expect(store.listSamples(1).map((s) => s.box.x)).toEqual([250, 500]);
    store.close();
  });

  it('does not leave a new identity behind when none of its photos could be enrolled', async () => {
    const group = await photoFile('group.jpg', 900, [
      { x: 100, y: 100, size: 150, person: 2 },
      { x: 500, y: 100, size: 150, person: 1 },
    ]);
    expect(await unmask('enroll', '--name', 'Bob', '--gallery', gallery, group)).toBe(1);
    expect(stderr).toContain('shows 2 faces; say which one to enroll (CLI --face N');
    expect(stderr).toContain('identity "Bob" not created');
    const store = GalleryStore.open(gallery, { create: false });
    expect(store.listIdentities()).toEqual([]);
    store.close();
  });

  it('lists and removes identities', async () => {
    const file = await photoFile('a.jpg', 640, [{ x: 250, y: 100, size: 180, person: 1 }]);
    await unmask('enroll', '--name', 'Alice', '--gallery', gallery, file);
    stdout = '';
    expect(await unmask('gallery', 'list', '--gallery', gallery)).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+SAMPLES\s+CREATED$/);
    expect(lines[1]).toMatch(/^ 1\s+Alice\s+1\s+\d{4}-\d\d-\d\dT/);

    expect(await unmask('gallery', 'remove', '1', '--gallery', gallery)).toBe(0);
    expect(stdout).toContain('removed identity 1 "Alice" and its 1 face sample from');
    expect(await unmask('gallery', 'remove', '1', '--gallery', gallery)).toBe(1);
    expect(stderr).toContain('error: no identity with id 1 in the gallery');
    stdout = '';
    expect(await unmask('gallery', 'list', '--gallery', gallery)).toBe(0);
    expect(stdout).toContain('has no identities yet');
  });

  it('purges: rewrites the file, and with --face-sources erases the kept face sources', async () => {
    const file = await photoFile('a.jpg', 640, [{ x: 250, y: 100, size: 180, person: 1 }]);
    await unmask('enroll', '--name', 'Alice', '--gallery', gallery, file);
    stdout = '';
    expect(await unmask('gallery', 'purge', '--gallery', gallery)).toBe(0);
    expect(stdout).toMatch(new RegExp(`^${gallery}: rewritten without free pages, [\\d.]+ MB → [\\d.]+ MB\\n$`));
    const before = GalleryStore.open(gallery, { create: false });
    expect(before.faceSource(1)).toBeDefined();
    before.close();
    stdout = '';
    expect(await unmask('gallery', 'purge', '--face-sources', '--gallery', gallery)).toBe(0);
    expect(stdout).toContain('; 1 face source erased');
    const after = GalleryStore.open(gallery, { create: false });
    expect(after.faceSource(1)).toBeUndefined();
    expect(after.listIdentities()).toMatchObject([{ name: 'Alice', sampleCount: 1 }]);
    after.close();
  });

  it('reports a missing gallery or config file as an error, without creating anything', async () => {
    const absent = tmp.file('nowhere/gallery.db');
    expect(await unmask('gallery', 'list', '--gallery', absent)).toBe(1);
    expect(stderr).toContain(`error: no gallery at ${absent}`);
    expect(await unmask('gallery', 'list', '--config', tmp.file('missing.yaml'))).toBe(1);
    expect(stderr).toContain('cannot read config');
    await expect(unmask('gallery', 'remove', 'x', '--gallery', gallery)).rejects.toThrow(/identity id/);
  });
});
