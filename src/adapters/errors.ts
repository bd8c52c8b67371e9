/**
 * Errors the adapters throw. They say what failed in the adapter's terms; the gateway maps them
 * to HTTP answers in one place (`src/gateway/error-map.ts`).
 */

/** Ingest is behind: the append was refused whole, nothing was written, a retry may succeed. */
export class BackpressureError extends Error {
  constructor(
    message: string,
    /** Seconds after which a retry is likely to succeed. */
    readonly retryAfterS: number,
  ) {
    super(message);
    this.name = this.constructor.name;
  }
}

/** The event stream is at its cap (the flush is behind ClickHouse). */
export class StreamAtCapError extends BackpressureError {}

/** The account's calls to Redis are behind their requests by more than the commit queue allows. */
export class CommitQueueFullError extends BackpressureError {}

/** A store (Redis, ClickHouse, the job queues) could not be reached or did not answer. */
export class StoreUnreachableError extends Error {
  constructor(
    readonly store: 'redis' | 'clickhouse' | 'queues',
    message: string,
    opts?: { cause?: unknown },
  ) {
    super(message, opts);
    this.name = this.constructor.name;
  }
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'ECONNABORTED']);
// ioredis's own words for a command it could not send or that got no answer (fail-fast clients).
const REDIS_CONNECTION_MESSAGES = ["Stream isn't writeable", 'Connection is closed', 'Command timed out', 'None of startup nodes is available'];
const REDIS_CONNECTION_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);

/** Whether `err` is a driver's "could not reach the store" failure, not a refused command. */
export function isConnectionFailure(err: unknown): boolean {
  if (err instanceof StoreUnreachableError) return true;
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  if (REDIS_CONNECTION_NAMES.has(err.name)) return true;
  return REDIS_CONNECTION_MESSAGES.some((m) => err.message.includes(m));
}
