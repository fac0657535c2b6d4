// Structured JSON logs (pino) for the operator; one root logger, children per component.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export function createLogger(opts: { level?: string; name?: string; destination?: DestinationStream } = {}): Logger {
  const level = opts.level ?? process.env.WEFT_LOG_LEVEL ?? 'info';
  const o = { name: opts.name ?? 'weft-operator', level, timestamp: pino.stdTimeFunctions.isoTime };
  return opts.destination ? pino(o, opts.destination) : pino(o);
}
