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

/** Readiness checks fail on an exception or a late answer as on a problem they name. */
async function probe(check: () => Promise<string | undefined>): Promise<string | undefined> {
  try {
    return await withTimeout(check);
  } catch (err) {
    return (err as Error).message || 'failed';
  }
}

/** A check's name and the problem it found, if any. */
type CheckResult = [name: string, problem: string | undefined];

/** Each check's answer (`ok` or its problem, in the order the checks were registered) and whether all passed. */
function report(results: CheckResult[]): { pass: boolean; checks: Record<string, string> } {
  const checks: Record<string, string> = {};
  for (const [name, problem] of results) checks[name] = problem ?? 'ok';
  return { pass: results.every(([, problem]) => !problem), checks };
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
        const { pass, checks } = report([...liveness].map(([name, check]) => [name, check()]));
        reply.json(pass ? 200 : 503, { status: pass ? 'ok' : 'unhealthy', checks });
      }),
    );

    app.get(
      '/readyz',
      handle('readyz', ctx.handlerOpts, async (_req, reply) => {
        const { pass, checks } = report(await Promise.all([...ctx.readiness].map(async ([name, check]): Promise<CheckResult> => [name, await probe(check)])));
        reply.json(pass ? 200 : 503, { status: pass ? 'ready' : 'not-ready', checks });
      }),
    );

    app.get(
      '/metrics',
      handle('metrics', ctx.handlerOpts, async (_req, reply) => {
        reply.send({ status: 200, headers: { 'content-type': 'text/plain; version=0.0.4' }, body: await ctx.metrics.render() });
      }),
    );
  };
