import { GatewayError, StoreUnavailableError } from '../errors.js';
import { BackpressureError } from '../adapters/errors.js';

/**
 * Run a stream append; a failure is a 503 the client retries, never a loss. Backpressure (a
 * full stream or commit queue) and registry errors keep their own answer; the failure is logged
 * with its cause by the route's error path.
 */
export async function appendOr503<T>(append: () => Promise<T>): Promise<T> {
  try {
    return await append();
  } catch (err) {
    if (err instanceof GatewayError || err instanceof BackpressureError) throw err;
    throw new StoreUnavailableError('event store unavailable, retry later', { retryAfter: 1, cause: err });
  }
}
