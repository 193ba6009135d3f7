// A real Redis for the tests: Debian's redis-server on a free loopback port, with its data in a
// temporary folder and no persistence, stopped at the end. Tests skip with the reason when the binary
// is absent (apt-get install redis-server; .ci/run installs it).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.ts';

export const REDIS_SERVER = process.env.UNMASK_REDIS_SERVER ?? '/usr/bin/redis-server';
export const haveRedis = existsSync(REDIS_SERVER);
export const noRedisReason = `no redis-server at ${REDIS_SERVER} (apt-get install redis-server, or set UNMASK_REDIS_SERVER)`;

export class RedisServer {
  private output = '';

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RedisServer> {
    const dir = mkdtempSync(join(tmpdir(), 'unmask-redis-'));
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'];
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new RedisServer(port, dir, child);
    const keep = (d: Buffer) => (server.output = (server.output + d.toString()).slice(-4000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    await waitForPort(port, 'redis-server', () => child.exitCode, () => server.output);
    return server;
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null) {
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => this.child.kill('SIGKILL'), 5000);
        this.child.once('exit', () => (clearTimeout(kill), resolve()));
        this.child.kill('SIGTERM');
      });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
