import { kv } from '../logger.js';
import type { GatewayContext } from './context.js';
import type { HandlerOptions } from './http.js';
import type { Counter } from '../metrics.js';

/**
 * Error answers of the public ingest routes (the beacon, the pixel, the recommendation click):
 * counted by reason, logged as the greppable `[v-event-error]` product line. Its own module, so
 * that route modules never import each other.
 */
export function ingestErrorOpts(ctx: GatewayContext): HandlerOptions {
  // One counter per reason, looked up by the reason rather than built from its labels each time.
  const rejected = new Map<string, Counter>();
  return {
    ...ctx.handlerOpts,
    errorLine: (err, req) => `[v-event-error] ${kv({ reason: err.reason, status: err.status, path: req.url })}`,
    onError: (err) => {
      let counter = rejected.get(err.reason);
      if (!counter) rejected.set(err.reason, (counter = ctx.metrics.counter('visitor_events_rejected_total', { reason: err.reason })));
      counter.inc();
    },
  };
}
