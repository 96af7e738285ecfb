/**
 * @module cli/logger
 *
 * One pino logger per process: human-readable lines on a terminal, JSON lines
 * otherwise (for log shippers), or as `--log-format` says.
 */
import { pino, type Logger } from 'pino';

export type LogFormat = 'pretty' | 'json';

export function createLogger(options: { level?: string; format?: LogFormat; name?: string } = {}): Logger {
  const format = options.format ?? (process.stdout.isTTY ? 'pretty' : 'json');
  const base = { level: options.level ?? 'info', name: options.name };
  if (format === 'json') return pino(base);
  return pino({
    ...base,
    transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss', ignore: 'pid,hostname', sync: true } },
  });
}
