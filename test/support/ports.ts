// Loopback ports for the servers the tests start: a free one chosen at run time (never a fixed port:
// another helper's tests may run at the same moment), and whether something listens on one.
import { connect, createServer } from 'node:net';

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
