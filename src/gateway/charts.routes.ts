import { ChartsStore } from '../adapters/clickhouse/charts.store.js';
import { zOnlineSeriesQuery, zSeriesQuery, zTopPagesQuery } from '../domain/charts.schema.js';
import { adminReadRoute } from './admin-route.js';
import type { RouteModule } from './context.js';

/**
 * The series of the operator page's charts (admin key; the account comes from the key):
 * `GET /api/timeseries` (page views and visitors per hour or day), `GET /api/top-pages`,
 * `GET /api/ctr/series` (recommendation CTR per hour or day) and `GET /api/online/series`
 * (the per-minute concurrency samples). Logged and answered as the analytics tools are.
 */
export const chartsRoutes: RouteModule = (app, ctx) => {
  const store = new ChartsStore(ctx.ch);

  adminReadRoute(app, ctx, {
    path: '/api/timeseries',
    tool: 'timeseries',
    query: zSeriesQuery,
    read: ({ account, q }) => store.traffic(account.id, q),
    rows: (r) => r.points.length,
  });

  adminReadRoute(app, ctx, {
    path: '/api/ctr/series',
    tool: 'ctr-series',
    query: zSeriesQuery,
    read: ({ account, q }) => store.ctr(account.id, q),
    rows: (r) => r.points.length,
  });

  adminReadRoute(app, ctx, {
    path: '/api/top-pages',
    tool: 'top-pages',
    query: zTopPagesQuery,
    read: ({ account, q }) => store.topPages(account.id, q),
    rows: (r) => r.pages.length,
  });

  adminReadRoute(app, ctx, {
    path: '/api/online/series',
    tool: 'online-series',
    query: zOnlineSeriesQuery,
    read: ({ account, q }) => store.online(account.id, q),
    rows: (r) => r.points.length,
    // The sample interval lets a reader tell a gap (the service was down) from a quiet minute.
    body: (out, { account }) => ({ account: account.id, sampleMs: ctx.config.PRESENCE_SAMPLE_MS, ...out }),
  });
};
