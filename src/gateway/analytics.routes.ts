import type { z } from 'zod';
import {
  describeIssues,
  ForbiddenError,
  GatewayError,
  NotFoundError,
  QueryTimeoutError,
  StoreUnavailableError,
  TooManyEventsError,
  ValidationError,
} from '../errors.js';
import { kv } from '../logger.js';
import { appendOr503 } from '../ingest/append.js';
import type { Account } from '../domain/account.js';
import { AnalyticsStore } from '../adapters/clickhouse/analytics.store.js';
import { QueryTimeLimitError } from '../adapters/clickhouse/queries.js';
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
import { bodyJson, handle, routeParam } from './http.js';

/** Parse with a zod schema or answer 400 naming every bad field. */
function parse<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.output<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw new ValidationError(describeIssues(r.error.issues, prefix));
  return r.data;
}

function queryObject(q: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of q) if (k !== 'key' && k !== 'account') out[k] = v;
  return out;
}

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

  /** Run a tool's queries; a ClickHouse failure is a 503 the client may retry, not a 500. */
  async function run<T>(tool: string, account: Account, fn: () => Promise<T>, count: (v: T) => number): Promise<T> {
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

  app.get(
    '/api/persons/:id/sessions',
    handle(
      'recent-by-person',
      ctx.handlerOpts,
      async (req, reply) => {
        const account = requireAdmin(ctx, req);
        const person = routeParam(req.params[0], zPersonId, 'person id');
        const q = parse(zPersonSessionsQuery, queryObject(req.query));
        const out = await run(
          'recent-by-person',
          account,
          () => store.recentByPerson(account.id, person, q.limit),
          (r) => r.sessions.length,
        );
        reply.json(200, { account: account.id, ...out });
      },
      1,
    ),
  );

  app.get(
    '/api/pages/visitors',
    handle('recent-by-page', ctx.handlerOpts, async (req, reply) => {
      const account = requireAdmin(ctx, req);
      const q = parse(zPageVisitorsQuery, queryObject(req.query));
      const out = await run(
        'recent-by-page',
        account,
        () => store.recentByPage(account.id, q, q.limit),
        (r) => r.visitors.length,
      );
      reply.json(200, { account: account.id, ...out });
    }),
  );

  app.get(
    '/api/engagement',
    handle('engagement-score', ctx.handlerOpts, async (req, reply) => {
      const account = requireAdmin(ctx, req);
      const q = parse(zEngagementQuery, queryObject(req.query));
      const out = await run(
        'engagement-score',
        account,
        () => store.engagement(account, q.limit, q.include, Date.now()),
        (r) => r.queue.length,
      );
      reply.json(200, { account: account.id, include: q.include, ...out });
    }),
  );

  app.get(
    '/api/ctr',
    handle('recommendation-ctr', ctx.handlerOpts, async (req, reply) => {
      const account = requireAdmin(ctx, req);
      const q = parse(zCtrQuery, queryObject(req.query));
      const out = await run(
        'recommendation-ctr',
        account,
        () => store.ctr(account.id, q.from, q.to),
        (r) => r.listings.length,
      );
      reply.json(200, { account: account.id, ...out });
    }),
  );

  app.get(
    '/api/sessions/:id',
    handle(
      'session-detail',
      ctx.handlerOpts,
      async (req, reply) => {
        const account = requireAdmin(ctx, req);
        const session = routeParam(req.params[0], zSessionId, 'session id');
        const q = parse(zSessionDetailQuery, queryObject(req.query));
        const out = await run(
          'session-detail',
          account,
          () => store.sessionDetail(account.id, session, q.limit),
          (r) => r?.timeline.length ?? 0,
        );
        if (!out) throw new NotFoundError(`no session ${session} in this account`);
        reply.json(200, { account: account.id, ...out });
      },
      1,
    ),
  );

  app.get(
    '/api/briefing',
    handle('briefing', ctx.handlerOpts, async (req, reply) => {
      const account = requireAdmin(ctx, req);
      const q = parse(zBriefingQuery, queryObject(req.query));
      const out = await run(
        'briefing',
        account,
        () => store.briefing(account.id, q.since, q.limit, q.pages, Date.now()),
        (r) => r.people.length,
      );
      reply.json(200, { account: account.id, ...out });
    }),
  );

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
      const list = parse(zRecommendationBody, bodyJson(await req.body()));
      if (list.length > MAX_RECOMMENDATIONS_PER_REQUEST) {
        throw new TooManyEventsError(`at most ${MAX_RECOMMENDATIONS_PER_REQUEST} recommendations per request, got ${list.length}`);
      }
      const now = Date.now();
      const rows: RecommendationRow[] = list.map((item, i) => {
        const r = parse(zRecommendationInput, item, list.length > 1 ? `recommendations.${i}.` : '');
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
