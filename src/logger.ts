import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Paths that never reach a log line: admin keys, tokens, cookies, raw IPs, raw ids. */
export const REDACT_PATHS = [
  'key',
  'token',
  'adminKey',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'ip',
  // Raw ids under their schema names: product lines name persons and visitors as `person` and
  // `visitor`, already pseudonymised (LOG_PERSON_IDS); a raw id logged by mistake is censored.
  ...['personId', 'visitorId', 'sessionId', 'person_id', 'visitor_id', 'session_id'].flatMap((k) => [k, `*.${k}`]),
];

/**
 * The one root logger factory; modules take `logger.child({ module })`. By default lines go
 * through pino's asynchronous destination (sonic-boom): a log call never blocks the loop on
 * the file, which matters with one `[visitor-event]` line per accepted event. Call
 * {@link flushLogger} before exiting.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ sync: false }),
  );
}

/** What flushLogger reads of pino's asynchronous destination (sonic-boom). */
interface AsyncDestination {
  once(event: 'drain' | 'error', fn: () => void): void;
  _writing?: boolean;
  _len?: number;
}

/**
 * Resolve once every line logged so far is written (on shutdown, before exit). pino's own
 * `flush(cb)` answers at once on a destination without a minimum length, so this waits for
 * the destination's `drain` while it still holds or writes data; bounded, so a stuck disk
 * cannot hold the exit (pino's exit handler still writes what is left synchronously).
 */
export function flushLogger(log: Logger, timeoutMs = 2000): Promise<void> {
  const dest = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as AsyncDestination | undefined;
  if (!dest || typeof dest.once !== 'function' || (!dest._writing && !dest._len)) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, timeoutMs);
    t.unref();
    const done = () => {
      clearTimeout(t);
      resolve();
    };
    dest.once('drain', done);
    dest.once('error', done);
  });
}

export { kv } from './domain/log-lines.js';
