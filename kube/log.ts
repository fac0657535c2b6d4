// Structured JSON logs (pino); one root logger per process, children per component.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** A pino logger with ISO timestamps; `name` (the program) is on every line when given. Level default "info". */
export function createLogger(opts: { level?: string; name?: string; destination?: DestinationStream } = {}): Logger {
  const level = opts.level ?? 'info';
  const o = { ...(opts.name ? { name: opts.name } : {}), level, timestamp: pino.stdTimeFunctions.isoTime };
  return opts.destination ? pino(o, opts.destination) : pino(o);
}
