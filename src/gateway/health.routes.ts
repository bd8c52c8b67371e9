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

/** Liveness, readiness (every registered check) and Prometheus metrics. */
export const healthRoutes: RouteModule = (app, ctx) => {
  app.get(
    '/healthz',
    handle(ctx.handlerOpts, (_req, reply) => reply.json(200, { status: 'ok' })),
  );

  app.get(
    '/readyz',
    handle(ctx.handlerOpts, async (_req, reply) => {
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
    handle(ctx.handlerOpts, async (_req, reply) => {
      reply.send({ status: 200, headers: { 'content-type': 'text/plain; version=0.0.4' }, body: await ctx.metrics.render() });
    }),
  );
};
