// One pino logger for the process; modules take children named after their stage. Every line goes
// through redactSecrets on its way out, so that no URL credential or API key reaches the log, whichever
// module logged it and however deep in an object or an error it sat.
import { pino, type DestinationStream, type Logger } from 'pino';
import { redactSecrets, withoutApiKey } from './redact.ts';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** UNMASK_LOG_LEVEL when it names a level (the config check refuses another value with the reason at start). */
function envLevel(): string | undefined {
  const level = process.env.UNMASK_LOG_LEVEL;
  return level && (LOG_LEVELS as readonly string[]).includes(level) ? level : undefined;
}

/** A destination that redacts each serialised line before it is written to stdout. */
export function redactingStream(out: { write(line: string): unknown } = pino.destination({ dest: 1, sync: true })): DestinationStream {
  return { write: (line: string) => out.write(redactSecrets(line)) };
}

/** What a request log line says of a request: the path without its api_key, never the headers. */
export function requestSerializer(request: { method?: string; url?: string; ip?: string; host?: string; socket?: { remotePort?: number } }) {
  return {
    method: request.method,
    url: withoutApiKey(request.url ?? ''),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

export const rootLogger: Logger = pino(
  {
    level: envLevel() ?? 'info',
    base: { service: 'unmask' },
    // Fastify takes the logger's own serializers over its defaults: its `req` would log the full URL.
    serializers: { req: requestSerializer },
  },
  redactingStream(),
);

// Children are made at import time, before the config is read: keep them to set their level later.
const children: Logger[] = [];

export function stageLogger(stage: string, extra: Record<string, unknown> = {}): Logger {
  const child = rootLogger.child({ stage, ...extra });
  children.push(child);
  return child;
}

/** The config's log level; the environment variable UNMASK_LOG_LEVEL wins. */
export function setLogLevel(level: string): void {
  const effective = envLevel() ?? level;
  rootLogger.level = effective;
  for (const child of children) child.level = effective;
}
