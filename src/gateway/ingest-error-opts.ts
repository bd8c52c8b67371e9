import { kv } from '../logger.js';
import type { GatewayContext } from './context.js';
import type { HandlerOptions } from './http.js';

/**
 * Error answers of the public ingest routes (the beacon, the pixel, the recommendation click):
 * counted by reason, logged as the greppable `[v-event-error]` product line. Its own module, so
 * that route modules never import each other.
 */
export function ingestErrorOpts(ctx: GatewayContext): HandlerOptions {
  const rejected = ctx.metrics.counterBy('visitor_events_rejected_total', 'reason');
  return {
    ...ctx.handlerOpts,
    errorLine: (err, req) => `[v-event-error] ${kv({ reason: err.reason, status: err.status, path: req.url })}`,
    onError: (err) => rejected(err.reason).inc(),
  };
}
