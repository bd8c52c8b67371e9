import type { TemplatedApp } from 'uWebSockets.js';
import type { z } from 'zod';
import { GatewayError, QueryTimeoutError, StoreUnavailableError } from '../errors.js';
import { kv } from '../logger.js';
import type { Account } from '../domain/account.js';
import { QueryTimeLimitError } from '../adapters/clickhouse/queries.js';
import { adminQuery, requireAdmin } from './admin-auth.js';
import type { GatewayContext } from './context.js';
import { handle, parseInput, routeParam } from './http.js';

/** What an admin read route's store call gets. */
export interface AdminRead<Q> {
  account: Account;
  /** The parsed query. */
  q: Q;
  /** The route parameter (`:id`), checked by `param`; '' on a route without one. */
  id: string;
}

/** An admin GET route that reads the analytics store: one tool, one store call, one JSON answer. */
export interface AdminReadRoute<Q, T> {
  path: string;
  /** The tool's name in log lines: ids appear in the paths, so lines never name the path. */
  tool: string;
  query: z.ZodType<Q>;
  /** The route's one `:id` parameter, checked before the query. */
  param?: { schema: z.ZodType<string>; what: string };
  read: (r: AdminRead<Q>) => Promise<T>;
  /** The rows of an answer, for the `[admin-api]` line. */
  rows: (out: T) => number;
  /** The answer's body. @defaultValue `{ account, ...out }` */
  body?: (out: T, r: AdminRead<Q>) => object;
}

/**
 * Run a tool's store call and log it as an `[admin-api]` line. A ClickHouse failure is a 503 the
 * client may retry, not a 500; a query past `ADMIN_QUERY_TIMEOUT_MS` a 503 that says so.
 */
async function runTool<T>(ctx: GatewayContext, tool: string, account: Account, fn: () => Promise<T>, count: (v: T) => number): Promise<T> {
  const started = performance.now();
  let out: T;
  try {
    out = await fn();
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    if (err instanceof QueryTimeLimitError) {
      ctx.log.warn(
        { err, tool, account: account.id, limitMs: ctx.config.ADMIN_QUERY_TIMEOUT_MS },
        `[admin-api] ${kv({ tool, account: account.id, outcome: 'time-limit' })}`,
      );
      throw new QueryTimeoutError(
        `${tool} ran past the admin query time limit of ${ctx.config.ADMIN_QUERY_TIMEOUT_MS} ms (ADMIN_QUERY_TIMEOUT_MS); narrow the query`,
      );
    }
    ctx.log.error({ err, tool, account: account.id }, `[admin-api] ${kv({ tool, account: account.id, outcome: 'store-error' })}`);
    throw new StoreUnavailableError('analytics store unavailable, retry later', { retryAfter: 1, cause: err });
  }
  const ms = Math.round(performance.now() - started);
  ctx.log.info({ tool, account: account.id, rows: count(out), ms }, `[admin-api] ${kv({ tool, account: account.id, rows: count(out), ms })}`);
  return out;
}

/** Register an admin read route: admin key → `:id` → query → store call → JSON. */
export function adminReadRoute<Q, T>(app: TemplatedApp, ctx: GatewayContext, route: AdminReadRoute<Q, T>): void {
  const { param } = route;
  app.get(
    route.path,
    handle(
      route.tool,
      ctx.handlerOpts,
      async (req, reply) => {
        const account = requireAdmin(ctx, req);
        const id = param ? routeParam(req.params[0], param.schema, param.what) : '';
        const r: AdminRead<Q> = { account, q: parseInput(route.query, adminQuery(req.query)), id };
        const out = await runTool(ctx, route.tool, account, () => route.read(r), route.rows);
        reply.json(200, route.body ? route.body(out, r) : { account: account.id, ...out });
      },
      param ? 1 : 0,
    ),
  );
}
