import type { z } from 'zod';
import { describeIssues, StoreUnavailableError, ValidationError } from '../errors.js';
import { kv } from '../logger.js';
import type { Account } from '../domain/account.js';
import { ChartsStore } from '../adapters/clickhouse/charts.store.js';
import { zOnlineSeriesQuery, zSeriesQuery, zTopPagesQuery } from '../domain/charts.schema.js';
import { requireAdmin } from './admin-auth.js';
import type { RouteModule } from './context.js';
import { handle } from './http.js';

function parseQuery<S extends z.ZodType>(schema: S, q: URLSearchParams): z.output<S> {
  const input: Record<string, string> = {};
  for (const [k, v] of q) if (k !== 'key' && k !== 'account') input[k] = v;
  const r = schema.safeParse(input);
  if (!r.success) throw new ValidationError(describeIssues(r.error.issues));
  return r.data;
}

/**
 * The series of the operator page's charts (admin key; the account comes from the key):
 * `GET /api/timeseries` (page views and visitors per hour or day), `GET /api/top-pages`,
 * `GET /api/ctr/series` (recommendation CTR per hour or day) and `GET /api/online/series`
 * (the per-minute concurrency samples). Logged and answered as the analytics tools are.
 */
export const chartsRoutes: RouteModule = (app, ctx) => {
  const store = new ChartsStore(ctx.ch);

  /** Run a series query; a ClickHouse failure is a 503 the client may retry, not a 500. */
  async function run<T>(tool: string, account: Account, fn: () => Promise<T>, rows: (v: T) => number): Promise<T> {
    const started = performance.now();
    let out: T;
    try {
      out = await fn();
    } catch (err) {
      ctx.log.error({ err, tool, account: account.id }, `[admin-api] ${kv({ tool, account: account.id, outcome: 'store-error' })}`);
      throw new StoreUnavailableError('analytics store unavailable, retry later', { retryAfter: 1, cause: err });
    }
    const ms = Math.round(performance.now() - started);
    ctx.log.info({ tool, account: account.id, rows: rows(out), ms }, `[admin-api] ${kv({ tool, account: account.id, rows: rows(out), ms })}`);
    return out;
  }

  app.get(
    '/api/timeseries',
    handle('timeseries', ctx.handlerOpts, async (req, reply) => {
      const account = requireAdmin(ctx, req);
      const q = parseQuery(zSeriesQuery, req.query);
      const out = await run(
        'timeseries',
        account,
        () => store.traffic(account.id, q),
        (r) => r.points.length,
      );
      reply.json(200, { account: account.id, ...out });
    }),
  );

  app.get(
    '/api/ctr/series',
    handle('ctr-series', ctx.handlerOpts, async (req, reply) => {
      const account = requireAdmin(ctx, req);
      const q = parseQuery(zSeriesQuery, req.query);
      const out = await run(
        'ctr-series',
        account,
        () => store.ctr(account.id, q),
        (r) => r.points.length,
      );
      reply.json(200, { account: account.id, ...out });
    }),
  );

  app.get(
    '/api/top-pages',
    handle('top-pages', ctx.handlerOpts, async (req, reply) => {
      const account = requireAdmin(ctx, req);
      const q = parseQuery(zTopPagesQuery, req.query);
      const out = await run(
        'top-pages',
        account,
        () => store.topPages(account.id, q),
        (r) => r.pages.length,
      );
      reply.json(200, { account: account.id, ...out });
    }),
  );

  app.get(
    '/api/online/series',
    handle('online-series', ctx.handlerOpts, async (req, reply) => {
      const account = requireAdmin(ctx, req);
      const q = parseQuery(zOnlineSeriesQuery, req.query);
      const out = await run(
        'online-series',
        account,
        () => store.online(account.id, q),
        (r) => r.points.length,
      );
      // The sample interval lets a reader tell a gap (the service was down) from a quiet minute.
      reply.json(200, { account: account.id, sampleMs: ctx.config.PRESENCE_SAMPLE_MS, ...out });
    }),
  );
};
