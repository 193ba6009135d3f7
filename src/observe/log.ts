// One pino logger for the process; modules take children named after their stage.
import { pino, type Logger } from 'pino';

export type { Logger };

export const rootLogger: Logger = pino({
  level: process.env.UNMASK_LOG_LEVEL ?? 'info',
  base: { service: 'unmask' },
});

export function stageLogger(stage: string, extra: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ stage, ...extra });
}
