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

/** The one root logger factory; modules take `logger.child({ module })`. */
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

export { kv } from './domain/log-lines.js';
