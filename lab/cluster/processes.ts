// Processes of a cluster on this machine, for the bench and the tests: a redis-server of its own on a
// free loopback port (data in a temporary folder, nothing saved), and `unmask run --role …` workers,
// each in a process of its own, that say where they listen.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

export const REDIS_SERVER = process.env.UNMASK_REDIS_SERVER ?? '/usr/bin/redis-server';
export const haveRedis = existsSync(REDIS_SERVER);
export const noRedisReason = `no redis-server at ${REDIS_SERVER} (apt-get install redis-server, or set UNMASK_REDIS_SERVER)`;

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
