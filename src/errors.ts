import type { z } from 'zod';

/**
 * The one registry of errors that reach a client. Each has a stable code, an HTTP status and
 * a short `reason` used in `{ "error": reason }` bodies and `[v-event-error] reason=…` lines.
 */
export abstract class GatewayError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  abstract readonly reason: string;
  /** Whether an error of this class captures its stack trace (see {@link defineError}). */
  static readonly traced: boolean = true;
  /** Seconds, for 429 and 503 answers. */
  readonly retryAfter?: number;
  constructor(message?: string, opts: GatewayErrorOptions = {}) {
    const limit = Error.stackTraceLimit;
    if (!(new.target as unknown as typeof GatewayError).traced) Error.stackTraceLimit = 0;
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    Error.stackTraceLimit = limit;
    this.name = this.constructor.name;
    if (opts.retryAfter !== undefined) this.retryAfter = opts.retryAfter;
  }
}

export interface GatewayErrorOptions {
  /** Seconds the client should wait before retrying (the Retry-After header). */
  retryAfter?: number;
  /** What went wrong underneath; logged with a 5xx answer, never sent to the client. */
  cause?: unknown;
}

/**
 * A client's mistake (4xx) is answered and logged by its code, reason and message: its stack
 * trace would say nothing, and capturing one was the largest cost of a rejected request (a site
 * with a misconfigured snippet sends nothing else). The service's own errors (5xx) keep theirs.
 */
function defineError(code: string, status: number, reason: string) {
  return class extends GatewayError {
    static override readonly traced = status >= 500;
    readonly code = code;
    readonly status = status;
    readonly reason = reason;
    constructor(message: string = reason, opts?: GatewayErrorOptions) {
      super(message, opts);
    }
  };
}

export class InvalidJsonError extends defineError('GW_ERR_INVALID_JSON', 400, 'invalid-json') {}
export class InvalidEncodingError extends defineError('GW_ERR_INVALID_ENCODING', 400, 'invalid-utf8') {}
export class ValidationError extends defineError('GW_ERR_VALIDATION', 400, 'invalid') {}
export class TooManyEventsError extends defineError('GW_ERR_TOO_MANY_EVENTS', 400, 'too-many-events') {}
export class UnsupportedMediaTypeError extends defineError('GW_ERR_MEDIA_TYPE', 415, 'unsupported-media-type') {}
export class UnauthorizedError extends defineError('GW_ERR_UNAUTHORIZED', 401, 'unauthorized') {}
export class UnknownAccountError extends defineError('GW_ERR_UNKNOWN_ACCOUNT', 403, 'unknown-account') {}
export class ForbiddenOriginError extends defineError('GW_ERR_ORIGIN', 403, 'origin-not-allowed') {}
export class ForbiddenError extends defineError('GW_ERR_FORBIDDEN', 403, 'forbidden') {}
export class NotFoundError extends defineError('GW_ERR_NOT_FOUND', 404, 'not-found') {}
export class MethodNotAllowedError extends defineError('GW_ERR_METHOD', 405, 'method-not-allowed') {}
export class PayloadTooLargeError extends defineError('GW_ERR_TOO_LARGE', 413, 'too-large') {}
export class RateLimitedError extends defineError('GW_ERR_RATE_LIMITED', 429, 'rate-limited') {}
export class StreamFullError extends defineError('GW_ERR_STREAM_FULL', 503, 'backpressure') {}
export class StoreUnavailableError extends defineError('GW_ERR_STORE_UNAVAILABLE', 503, 'store-unavailable') {}
/** An admin query ran past `ADMIN_QUERY_TIMEOUT_MS` (ClickHouse's `max_execution_time`). */
export class QueryTimeoutError extends defineError('GW_ERR_QUERY_TIMEOUT', 504, 'query-timeout') {}
export class PersonErasedError extends defineError('GW_ERR_PERSON_ERASED', 409, 'person-erased') {}
export class InternalError extends defineError('GW_ERR_INTERNAL', 500, 'internal') {}

/** Every registered class, for the uniqueness test and the README table. */
export const ERROR_CLASSES = [
  InvalidJsonError,
  InvalidEncodingError,
  ValidationError,
  TooManyEventsError,
  UnsupportedMediaTypeError,
  UnauthorizedError,
  UnknownAccountError,
  ForbiddenOriginError,
  ForbiddenError,
  NotFoundError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  RateLimitedError,
  StreamFullError,
  StoreUnavailableError,
  QueryTimeoutError,
  PersonErasedError,
  InternalError,
] as const;

/**
 * Zod issues in one line for a 400 body: `prefix` + path (`whole` when the issue is about the
 * input itself) + message, at most five of them.
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], prefix = '', whole = '(body)'): string {
  return issues
    .slice(0, 5)
    .map((i) => `${prefix}${i.path.join('.') || whole}: ${i.message}`)
    .join('; ');
}
