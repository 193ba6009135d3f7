// One pino logger for the process; modules take children named after their stage.
import { pino, type Logger } from 'pino';

export type { Logger };

export const rootLogger: Logger = pino({
  level: process.env.UNMASK_LOG_LEVEL ?? 'info',
  base: { service: 'unmask' },
});

// Children are made at import time, before the config is read: keep them to set their level later.
const children: Logger[] = [];

export function stageLogger(stage: string, extra: Record<string, unknown> = {}): Logger {
  const child = rootLogger.child({ stage, ...extra });
  children.push(child);
  return child;
}

/** The config's log level; the environment variable UNMASK_LOG_LEVEL wins. */
export function setLogLevel(level: string): void {
  const effective = process.env.UNMASK_LOG_LEVEL ?? level;
  rootLogger.level = effective;
  for (const child of children) child.level = effective;
}
