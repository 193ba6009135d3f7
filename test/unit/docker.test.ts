// No Docker engine runs here: check what can be checked without one, that every file the image
// copies exists and the compose file points at the Dockerfile.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

describe('docker/', () => {
  const dockerfile = readFileSync(join(root, 'docker/Dockerfile'), 'utf8');
  const copies = dockerfile
    .split('\n')
    .filter((line) => /^COPY\s/.test(line) && !line.includes('--from'))
    .flatMap((line) => line.trim().split(/\s+/).slice(1, -1));

  it('copies something', () => {
    expect(copies.length).toBeGreaterThan(3);
  });

  it.each(copies)('COPY source %s exists in the build context (the repository root)', (path) => {
    expect(existsSync(join(root, path)), `${path} is copied by docker/Dockerfile but missing`).toBe(true);
  });

  it('runs on node:20-bookworm-slim with ffmpeg', () => {
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim/m);
    expect(dockerfile).toMatch(/apt-get install[^\n]*ffmpeg/);
  });

  it('the CMD starts an entry point that exists', () => {
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]) as string[];
    const entry = cmd.find((part) => part.endsWith('.ts'));
    expect(entry && existsSync(join(root, entry))).toBe(true);
    expect(cmd).toContain('config/default.yaml');
    expect(existsSync(join(root, 'config/default.yaml'))).toBe(true);
  });

  it('compose builds from the repository root with docker/Dockerfile', () => {
    const compose = parse(readFileSync(join(root, 'docker/compose.yaml'), 'utf8'));
    const build = compose.services.unmask.build;
    const context = resolve(root, 'docker', build.context);
    expect(context).toBe(root);
    expect(existsSync(join(context, build.dockerfile))).toBe(true);
  });
});
