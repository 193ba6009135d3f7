// Processes of a cluster on this machine, for the bench and the tests: a redis-server of its own on a
// free loopback port (data in a temporary folder, nothing saved), and `unmask run --role …` workers,
// each in a process of its own, that say where they listen.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { stringify } from 'yaml';

export const REDIS_SERVER = process.env.UNMASK_REDIS_SERVER ?? '/usr/bin/redis-server';
export const haveRedis = existsSync(REDIS_SERVER);
export const noRedisReason = `no redis-server at ${REDIS_SERVER} (apt-get install redis-server, or set UNMASK_REDIS_SERVER)`;

export const POSTGRES_BIN = process.env.UNMASK_POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin';
export const havePostgres = existsSync(join(POSTGRES_BIN, 'postgres')) && existsSync(join(POSTGRES_BIN, 'initdb'));
export const noPostgresReason = `no PostgreSQL at ${POSTGRES_BIN} (apt-get install postgresql, or set UNMASK_POSTGRES_BIN)`;

const ROOT = join(import.meta.dirname, '../..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** Waits until `port` accepts connections; fails early when the process exited. */
export async function waitForPort(port: number, what: string, exited: () => number | null, output: () => string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await canConnect(port))) {
    if (exited() !== null) throw new Error(`${what} exited with ${exited()}: ${output()}`);
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms: ${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Sends SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => (clearTimeout(kill), resolve()));
    child.kill('SIGTERM');
  });
}

export class LocalRedis {
  private output = '';

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<LocalRedis> {
    const dir = mkdtempSync(join(tmpdir(), 'unmask-redis-'));
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'];
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new LocalRedis(port, dir, child);
    const keep = (d: Buffer) => (server.output = (server.output + d.toString()).slice(-4000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    await waitForPort(port, 'redis-server', () => child.exitCode, () => server.output);
    return server;
  }

  async close(): Promise<void> {
    await stopProcess(this.child, 5000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A PostgreSQL of its own: initdb into a temporary folder (trust on loopback only), the server on a
 * free port with its socket in that folder. As root, both run as the `postgres` user (PostgreSQL
 * refuses root), which then owns the folder.
 */
export class LocalPostgres {
  private output = '';

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  /** The URL of a database of this server (the default one unless named). */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  static async start(): Promise<LocalPostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'unmask-postgres-'));
    const data = join(dir, 'data');
    const asRoot = process.getuid?.() === 0;
    const run = (bin: string, args: string[]) => (asRoot ? ['runuser', ['-u', 'postgres', '--', join(POSTGRES_BIN, bin), ...args]] : [join(POSTGRES_BIN, bin), args]) as [string, string[]];
    if (asRoot) execFileSync('chown', ['postgres:postgres', dir]);
    const [initdb, initArgs] = run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    execFileSync(initdb, initArgs, { stdio: 'pipe' });
    const port = await freePort();
    const [postgres, args] = run('postgres', ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'full_page_writes=off']);
    const child = spawn(postgres, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new LocalPostgres(port, dir, child);
    const keep = (d: Buffer) => (server.output = (server.output + d.toString()).slice(-4000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    await waitForPort(port, 'postgres', () => child.exitCode, () => server.output, 30_000);
    // The port opens before the server takes queries ("the database system is starting up").
    const deadline = Date.now() + 30_000;
    for (;;) {
      const client = new pg.Client(server.url());
      try {
        await client.connect();
        await client.query('SELECT 1');
        break;
      } catch (err) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`postgres did not take queries: ${(err as Error).message} ${server.output}`);
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    return server;
  }

  async close(): Promise<void> {
    // SIGINT: "fast" shutdown (clients disconnected, no waiting for them).
    await new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      this.child.once('exit', () => (clearTimeout(kill), resolve()));
      this.child.kill('SIGINT');
    });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface RoleProcess {
  role: string;
  id: string;
  child: ChildProcess;
  /** The API of a gateway or of `--role all`; /healthz and /metrics of the others. */
  url: string;
  /** The last lines it wrote. */
  output: string[];
}

/**
 * Starts `unmask run --role ROLE` with `config` (written as YAML into `dir`) in a process of its own,
 * and resolves once it says where it listens (its port is the config's, 0 for any free one).
 */
export async function startRoleProcess(role: string, id: string, config: Record<string, unknown>, dir: string, timeoutMs = 120_000): Promise<RoleProcess> {
  const file = join(dir, `${id}.yaml`);
  writeFileSync(file, stringify(config));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'run', '--role', role, '--config', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const worker: RoleProcess = { role, id, child, url: '', output: [] };
  const keep = (d: Buffer) => {
    worker.output.push(...d.toString().split('\n').filter(Boolean));
    if (worker.output.length > 200) worker.output.splice(0, worker.output.length - 200);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const api = role === 'gateway' || role === 'all';
  const deadline = Date.now() + timeoutMs;
  while (!worker.url) {
    if (child.exitCode !== null) throw new Error(`${id} exited with ${child.exitCode}:\n${worker.output.join('\n')}`);
    if (Date.now() > deadline) throw new Error(`${id} did not start within ${timeoutMs} ms:\n${worker.output.join('\n')}`);
    const line = worker.output.find((l) => (api ? /^\s+alerts:\s+ws:/ : /^\s+health:\s+http:/).test(l));
    if (line) worker.url = api ? line.replace(/^\s+alerts:\s+ws(:\/\/[^/]+).*$/, 'http$1') : line.replace(/^\s+health:\s+(http:\/\/[^/ ]+).*$/, '$1');
    else await new Promise((r) => setTimeout(r, 100));
  }
  return worker;
}
