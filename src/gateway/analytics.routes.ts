import { ForbiddenError, NotFoundError, TooManyEventsError, ValidationError } from '../errors.js';
import { kv } from '../logger.js';
import { appendOr503 } from '../ingest/append.js';
import type { Account } from '../domain/account.js';
import { AnalyticsStore } from '../adapters/clickhouse/analytics.store.js';
import { TABLES } from '../adapters/clickhouse/tables.js';
import { zPersonId, zSessionId } from '../domain/ids.js';
import {
  MAX_RECOMMENDATIONS_PER_REQUEST,
  zBriefingQuery,
  zCtrQuery,
  zEngagementQuery,
  zPageVisitorsQuery,
  zPersonSessionsQuery,
  zRecommendationBody,
  zRecommendationInput,
  zSessionDetailQuery,
} from '../domain/analytics.schema.js';
import { recommendationRow, REC_FUTURE_MS, type RecommendationRow } from '../domain/recommendation.js';
import { requireAdmin } from './admin-auth.js';
import type { RouteModule } from './context.js';
import { adminReadRoute } from './admin-route.js';
import { bodyJson, handle, parseInput } from './http.js';

/**
 * Server-side events name no account, or the key's own: the account always comes from the key.
 * Anything else is refused rather than silently re-labelled.
 */
function withKeyAccount(body: unknown, account: Account): unknown {
  const fill = (e: unknown): unknown => {
    if (!e || typeof e !== 'object' || Array.isArray(e)) return e;
    const named = (e as { account?: unknown }).account;
    if (named === undefined) return { ...(e as object), account: account.id };
    if (named !== account.id && named !== account.ingestId) throw new ForbiddenError('events may only name the account of the admin key');
    return { ...(e as object), account: account.id };
  };
  if (body && typeof body === 'object' && !Array.isArray(body) && Array.isArray((body as { events?: unknown }).events)) {
    return { events: (body as { events: unknown[] }).events.map(fill) };
  }
  return fill(body);
}

/**
 * The operator's analytics tools (admin key; one key = one account, taken from the key):
 * recent-by-person, recent-by-page, engagement-score, recommendation-ctr, session-detail,
 * briefing, event-ingest and record-recommendation. Ids appear in these URLs, so log lines name
 * the tool, never the path.
 */
export const analyticsRoutes: RouteModule = (app, ctx) => {
  const store = new AnalyticsStore(ctx.ch, { timeoutMs: ctx.config.ADMIN_QUERY_TIMEOUT_MS });

  adminReadRoute(app, ctx, {
    path: '/api/persons/:id/sessions',
    tool: 'recent-by-person',
    param: { schema: zPersonId, what: 'person id' },
    query: zPersonSessionsQuery,
    read: ({ account, q, id }) => store.recentByPerson(account.id, id, q.limit),
    rows: (r) => r.sessions.length,
  });

  adminReadRoute(app, ctx, {
    path: '/api/pages/visitors',
    tool: 'recent-by-page',
    query: zPageVisitorsQuery,
    read: ({ account, q }) => store.recentByPage(account.id, q, q.limit),
    rows: (r) => r.visitors.length,
  });

  adminReadRoute(app, ctx, {
    path: '/api/engagement',
    tool: 'engagement-score',
    query: zEngagementQuery,
    read: ({ account, q }) => store.engagement(account, q.limit, q.include, Date.now()),
    rows: (r) => r.queue.length,
    body: (out, { account, q }) => ({ account: account.id, include: q.include, ...out }),
  });

  adminReadRoute(app, ctx, {
    path: '/api/ctr',
    tool: 'recommendation-ctr',
    query: zCtrQuery,
    read: ({ account, q }) => store.ctr(account.id, q.from, q.to),
    rows: (r) => r.listings.length,
  });

  adminReadRoute(app, ctx, {
    path: '/api/sessions/:id',
    tool: 'session-detail',
    param: { schema: zSessionId, what: 'session id' },
    query: zSessionDetailQuery,
    read: ({ account, q, id }) => store.sessionDetail(account.id, id, q.limit),
    rows: (r) => r?.timeline.length ?? 0,
    body: (out, { account, id }) => {
      if (!out) throw new NotFoundError(`no session ${id} in this account`);
      return { account: account.id, ...out };
    },
  });

  adminReadRoute(app, ctx, {
    path: '/api/briefing',
    tool: 'briefing',
    query: zBriefingQuery,
    read: ({ account, q }) => store.briefing(account.id, q.since, q.limit, q.pages, Date.now()),
    rows: (r) => r.people.length,
  });

  app.post(
    '/api/events',
    handle('event-ingest', ctx.handlerOpts, async (req, reply) => {
      const account = requireAdmin(ctx, req);
      const body = withKeyAccount(bodyJson(await req.body()), account);
      // Server-side ingest: no bot filter and no origin check (the admin key is the credential).
      const { accepted, duplicates } = await ctx.ingest.accept(body, req, { filterBots: false, keyAccount: account });
      const out = { accepted, duplicates };
      ctx.log.info(
        { tool: 'event-ingest', account: account.id, ...out },
        `[admin-api] ${kv({ tool: 'event-ingest', account: account.id, accepted: out.accepted, duplicates: out.duplicates })}`,
      );
      reply.json(200, out);
    }),
  );

  app.post(
    '/api/recommendations',
    handle('record-recommendation', ctx.handlerOpts, async (req, reply) => {
      const account = requireAdmin(ctx, req);
      const list = parseInput(zRecommendationBody, bodyJson(await req.body()));
      if (list.length > MAX_RECOMMENDATIONS_PER_REQUEST) {
        throw new TooManyEventsError(`at most ${MAX_RECOMMENDATIONS_PER_REQUEST} recommendations per request, got ${list.length}`);
      }
      const now = Date.now();
      const rows: RecommendationRow[] = list.map((item, i) => {
        const r = parseInput(zRecommendationInput, item, list.length > 1 ? `recommendations.${i}.` : '');
        if (r.ts !== undefined && r.ts > now + REC_FUTURE_MS)
          throw new ValidationError(`${list.length > 1 ? `recommendations.${i}.` : ''}ts is more than a day in the future`);
        return recommendationRow(r, account.id, now);
      });
      await appendOr503(() =>
        ctx.rows.append(
          account.id,
          rows.map((row) => ({ table: TABLES.recommendations, row })),
        ),
      );
      ctx.log.info(
        { tool: 'record-recommendation', account: account.id, rows: rows.length, listings: new Set(rows.map((r) => r.listing)).size },
        '[record-recommendation] recorded',
      );
      reply.json(202, { accepted: rows.length });
    }),
  );
};
