import { GatewayError, InternalError, StoreUnavailableError, StreamFullError } from '../errors.js';
import { BackpressureError, isConnectionFailure } from '../adapters/errors.js';

/**
 * The one rule from anything thrown to a registry error: registry errors stand; backpressure (a
 * full stream or commit queue) is a 503 `backpressure`; a store that cannot be reached is a 503
 * `store-unavailable` the client may retry in a second; anything else is a 500 that does not
 * leak its message.
 */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  if (err instanceof BackpressureError) return new StreamFullError(err.message, { retryAfter: err.retryAfterS, cause: err });
  if (isConnectionFailure(err)) return new StoreUnavailableError('a store is unavailable, retry later', { retryAfter: 1, cause: err });
  return new InternalError(undefined, { cause: err });
}
