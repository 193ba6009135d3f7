// Config typos and bad settings (issue 19, failure 6), through `unmask run` as a user meets them: each
// is refused at start with the key, what it probably meant or why, and exit code 1 — no stack trace,
// nothing started. A typo that passed silently used to change what the service did (server.api_key: a
// random key; ui.enabeld: false: the page stayed on).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config.ts';

const TSX = join(import.meta.dirname, '../../node_modules/.bin/tsx');
const UNMASK = join(import.meta.dirname, '../../src/cli/index.ts');

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'unmask-config-faults-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `unmask run` with these arguments and environment; what it printed and how it ended. */
function run(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stderr: string; stdout: string } {
  const result = spawnSync(TSX, [UNMASK, 'run', ...args], {
    env: { ...process.env, UNMASK_API_KEY: 'fault-config-key-0123456789', UNMASK_LOG_LEVEL: 'error', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

function expectPlainRefusal(result: ReturnType<typeof run>, message: RegExp): void {
  expect(result.status, result.stderr).toBe(1);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/^\s+at /m); // no stack trace
  expect(result.stdout).not.toContain('unmask is running');
}

describe('config typos', () => {
  const typos: [string, Record<string, unknown>, string][] = [
    ['server.api_key', { server: { api_key: 'a-key-that-never-counted' } }, 'server.api_key: unknown key; did you mean "apiKey"?'],
    ['ui.enabeld', { ui: { enabeld: false } }, 'ui.enabeld: unknown key; did you mean "enabled"?'],
    ['detect.modle', { detect: { modle: 'faceplugin' } }, 'detect.modle: unknown key; did you mean "model"?'],
    ['cameras[].urll', { cameras: [{ name: 'door', url: 'x.mp4', urll: 'rtsp://cam/1' }] }, 'cameras.0.urll: unknown key; did you mean "url"?'],
  ];
  for (const [key, raw, line] of typos)
    it(`refuses ${key}, naming the key it meant`, () => {
      expect(() => parseConfig(raw)).toThrow(ConfigError);
      expect(() => parseConfig(raw)).toThrow(line);
    });

  it('`unmask run --config` with a typo stops before anything starts, with the line to fix', () => {
    const file = join(dir, 'typo.yaml');
    writeFileSync(file, 'ui:\n  enabeld: false\nserver:\n  api_key: a-key-that-never-counted\n');
    expectPlainRefusal(run(['--config', file]), /invalid config .*typo\.yaml:\n {2}server\.api_key: unknown key; did you mean "apiKey"\?\n {2}ui\.enabeld: unknown key; did you mean "enabled"\?/);
  });

  it('refuses a one-character UNMASK_API_KEY with the rule', () => {
    expectPlainRefusal(run(['--gallery', join(dir, 'g.db')], { UNMASK_API_KEY: 'a' }), /UNMASK_API_KEY: at least 16 characters, as server\.apiKey/);
  });

  it('refuses a folder as the gallery, and a file as its folder, in plain words', () => {
    expectPlainRefusal(run(['--gallery', dir]), new RegExp(`gallery\\.path: ${dir} is a folder: give a file in it`));
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    expectPlainRefusal(run(['--gallery', join(file, 'gallery.db')]), new RegExp(`gallery\\.path: cannot create ${file}/gallery\\.db: ${file} is a file, not a folder`));
  });
});
