// A real MQTT broker for the tests: Debian's mosquitto on a free loopback port, with a configuration
// and persistence of its own in a temporary folder, stopped (and restarted) at will. Tests skip with
// the reason when the binary is absent (apt-get install mosquitto; .ci/run installs it).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MOSQUITTO = process.env.UNMASK_MOSQUITTO ?? '/usr/sbin/mosquitto';
export const haveMosquitto = existsSync(MOSQUITTO);
export const noMosquittoReason = `no mosquitto at ${MOSQUITTO} (apt-get install mosquitto, or set UNMASK_MOSQUITTO)`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

export class Mosquitto {
  private process: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly conf: string,
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Starts a broker that keeps sessions and retained messages across its own restarts. */
  static async start(): Promise<Mosquitto> {
    const dir = mkdtempSync(join(tmpdir(), 'unmask-mosquitto-'));
    const port = await freePort();
    const conf = join(dir, 'mosquitto.conf');
    const lines = [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${dir}/`,
      'log_dest stderr',
      'log_type error',
      'log_type warning',
    ];
    // As root, mosquitto would switch to the "mosquitto" user, who cannot write the temporary folder.
    if (process.getuid?.() === 0) lines.push('user root');
    writeFileSync(conf, lines.join('\n') + '\n');
    const broker = new Mosquitto(port, dir, conf);
    await broker.restart();
    return broker;
  }

  /** (Re)starts the broker on the same port, and waits until it accepts connections. */
  async restart(): Promise<void> {
    if (this.process) throw new Error('mosquitto is already running');
    const child = spawn(MOSQUITTO, ['-c', this.conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => (this.output = (this.output + d.toString()).slice(-4000)));
    this.process = child;
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(this.port))) {
      if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}: ${this.output}`);
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${this.port} within 10 s: ${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops the broker (SIGTERM: it saves its sessions and retained messages first). */
  async stop(): Promise<void> {
    const child = this.process;
    if (!child) return;
    this.process = undefined;
    if (child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => (clearTimeout(kill), resolve()));
      child.kill('SIGTERM');
    });
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
