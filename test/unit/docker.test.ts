// No Docker engine runs here: check what can be checked without one, that every file the image
// copies exists and the compose file points at the Dockerfile.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';

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

// docker/compose.scale.yaml: two workers of each role on one Redis and one PostgreSQL. Checked
// without an engine: every file it names is there, every service is health-checked and restarted.
describe('docker/compose.scale.yaml', () => {
  const compose = parse(readFileSync(join(root, 'docker/compose.scale.yaml'), 'utf8'), { merge: true }) as {
    services: Record<string, { build?: { context: string; dockerfile: string }; command?: string[]; volumes?: string[]; healthcheck?: { test: string[] }; restart?: string; image?: string }>;
  };
  const services = Object.entries(compose.services);
  const workers = services.filter(([, s]) => s.command?.includes('--role'));
  const roleOf = (command: string[]) => command[command.indexOf('--role') + 1];

  it('runs redis, postgres and two workers of each role', () => {
    expect(compose.services.redis?.image).toMatch(/^redis:7/);
    expect(compose.services.postgres?.image).toMatch(/^postgres:15/);
    const roles = workers.map(([, s]) => roleOf(s.command!)).sort();
    expect(roles).toEqual(['gateway', 'gateway', 'infer', 'infer', 'ingest', 'ingest']);
    const ids = workers.map(([, s]) => s.command![s.command!.indexOf('--id') + 1]);
    expect(new Set(ids).size).toBe(6);
  });

  it.each(services.map(([name]) => name))('%s has a health check and a restart policy', (name) => {
    const service = compose.services[name];
    expect(service.healthcheck?.test.length).toBeGreaterThan(1);
    expect(service.restart).toBe('unless-stopped');
  });

  it('builds the workers from the repository root with docker/Dockerfile, whose COPY puts src/ and lab/ in /app', () => {
    for (const [, service] of workers) {
      expect(resolve(root, 'docker', service.build!.context)).toBe(root);
      expect(existsSync(join(root, service.build!.dockerfile))).toBe(true);
    }
  });

  it('names only files that exist: the mounted config (valid, on Redis and PostgreSQL) and the entry point', () => {
    const named: string[] = [];
    for (const [, service] of workers) {
      // A bind mount is HOST:CONTAINER[:ro]; a host path starts with . or / (else it is a named volume).
      const mounts = (service.volumes ?? []).map((v) => v.split(':')).filter(([host]) => /^[./]/.test(host));
      for (const [host] of mounts) named.push(resolve(root, 'docker', host));
      const command = service.command!;
      // /app is the repository (WORKDIR, COPY): a path in /app is its file, unless a mount puts one there.
      const inApp = (path: string) => {
        const target = `/app/${path}`;
        const mount = mounts.find(([, container]) => container === target);
        return mount ? resolve(root, 'docker', mount[0]) : join(root, path);
      };
      named.push(inApp(command.find((part) => part.endsWith('.ts'))!), inApp(command[command.indexOf('--config') + 1]));
    }
    for (const file of named) expect(existsSync(file), `${file} is named by docker/compose.scale.yaml but missing`).toBe(true);
    const config = parseConfig(parse(readFileSync(join(root, 'docker/cluster.yaml'), 'utf8')));
    expect(config.gallery.store).toBe('postgres');
    expect(config.cluster.redis).toMatch(/^redis:\/\/redis:/);
  });
});
