import type { RouteModule } from './context.js';
import { handle } from './http.js';

/**
 * A readiness check that has not answered by then counts as failed: a probe must get its answer
 * while Redis or ClickHouse is down (their clients may queue a command until they return).
 */
export const READINESS_TIMEOUT_MS = 2000;

function withTimeout(check: () => Promise<string | undefined>): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${READINESS_TIMEOUT_MS} ms`), READINESS_TIMEOUT_MS);
  });
  return Promise.race([check(), late]).finally(() => clearTimeout(timer));
}

/**
 * Liveness, readiness (every registered check) and Prometheus metrics. Liveness checks are
 * synchronous and name only what a restart of the process would mend (a private Redis given up
 * on): a dependency that is merely down makes the gateway unready, not dead.
 */
export const healthRoutes =
  (liveness: ReadonlyMap<string, () => string | undefined> = new Map()): RouteModule =>
  (app, ctx) => {
    app.get(
      '/healthz',
      handle('healthz', ctx.handlerOpts, (_req, reply) => {
        const checks: Record<string, string> = {};
        let live = true;
        for (const [name, check] of liveness) {
          const problem = check();
          checks[name] = problem ?? 'ok';
          if (problem) live = false;
        }
        reply.json(live ? 200 : 503, { status: live ? 'ok' : 'unhealthy', checks });
      }),
    );

    app.get(
      '/readyz',
      handle('readyz', ctx.handlerOpts, async (_req, reply) => {
        const checks: Record<string, string> = {};
        let ready = true;
        await Promise.all(
          [...ctx.readiness].map(async ([name, check]) => {
            let problem: string | undefined;
            try {
              problem = await withTimeout(check);
            } catch (err) {
              problem = (err as Error).message || 'failed';
            }
            checks[name] = problem ?? 'ok';
            if (problem) ready = false;
          }),
        );
        reply.json(ready ? 200 : 503, { status: ready ? 'ready' : 'not-ready', checks });
      }),
    );

    app.get(
      '/metrics',
      handle('metrics', ctx.handlerOpts, async (_req, reply) => {
        reply.send({ status: 200, headers: { 'content-type': 'text/plain; version=0.0.4' }, body: await ctx.metrics.render() });
      }),
    );
  };
