import { pino } from 'pino';
import { build as prettyStream } from 'pino-pretty';

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  /** pino's level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`. Default `info`. */
  level?: string;
  /**
   * Coloured one-line entries (pino-pretty) instead of JSON lines. Default: when stdout is a terminal, so
   * that what a log collector reads is always JSON.
   */
  isPretty?: boolean;
}

/**
 * The sidecar's logger: pino, one JSON object per line on stdout (`level`, `time`, `msg` and the entry's
 * fields), or pino-pretty's lines on a terminal. Throws on an unknown level.
 */
export function createLogger(options: CreateLoggerOptions = {}): pino.Logger {
  const level = options.level ?? 'info';
  if (options.isPretty ?? process.stdout.isTTY === true) {
    return pino({ level }, prettyStream({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', sync: true }));
  }
  return pino({ level });
}

/** Warnings and errors only, as {@link createLogger} writes them. */
export const quietLogger = createLogger({ level: 'warn' });
