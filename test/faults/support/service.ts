// Starts test/faults/support/service-main.ts as a child process and keeps everything it prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const MAIN = join(import.meta.dirname, 'service-main.ts');
/**
 * Node with tsx's loader, not the tsx command: that one runs the script in a child of its own, and a
 * SIGKILL sent to it would leave the service running.
 */
export const NODE_TSX = [process.execPath, '--import', 'tsx'] as const;

export interface ChildService {
  child: ChildProcess;
  url: string;
  pid: number;
  /** Everything printed on stdout and stderr so far (the JSON log included). */
  output(): string;
  /** SIGTERM and wait for the exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

export async function startChildService(config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, timeoutMs = 90_000): Promise<ChildService> {
  const child = spawn(NODE_TSX[0], [...NODE_TSX.slice(1), MAIN, JSON.stringify(config)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the service did not start within ${timeoutMs} ms:\n${output.slice(-3000)}`)), timeoutMs);
    const onData = () => {
      const line = /^READY (.*)$/m.exec(output)?.[1];
      if (!line) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve(JSON.parse(line));
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the service exited with ${code} before it was ready:\n${output.slice(-3000)}`));
    });
  });
  return {
    child,
    ...ready,
    output: () => output,
    exited,
    stop: async (graceMs = 10_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
