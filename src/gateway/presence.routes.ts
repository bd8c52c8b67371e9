import { z } from 'zod';
import { describeIssues, ValidationError } from '../errors.js';
import { recordedPeaks, type RecordedPeaks } from '../adapters/clickhouse/presence-peaks.store.js';
import type { PresenceStore } from '../adapters/redis/presence.store.js';
import { presencePath } from '../domain/presence.rules.js';
import { snapshotMessage, zLivePage, type LiveVisitorsResponse, type OnlineResponse } from '../domain/presence.messages.js';
import type { RouteModule } from './context.js';
import { handle } from './http.js';
import { requireAdmin } from './admin-auth.js';

const zOnlineQuery = z.object({
  page: zLivePage.optional(),
  /** Top pages listed. */
  limit: z.coerce.number().int().min(1).max(1000).default(10),
});

const zVisitorsQuery = z.object({
  page: zLivePage.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

function parseQuery<T extends z.ZodType>(schema: T, q: URLSearchParams): z.infer<T> {
  const obj: Record<string, string> = {};
  for (const [k, v] of q) if (k !== 'key' && k !== 'account' && v !== '') obj[k] = v;
  const parsed = schema.safeParse(obj);
  if (!parsed.success) throw new ValidationError(describeIssues(parsed.error.issues, '', ''));
  return parsed.data;
}

/** `GET /api/online` and `GET /api/visitors/live` (admin key; one key, one account). */
export function presenceRoutes(store: PresenceStore): RouteModule {
  return (app, ctx) => {
    app.get(
      '/api/online',
      handle('online', ctx.handlerOpts, async (req, reply) => {
        const account = requireAdmin(ctx, req);
        const q = parseQuery(zOnlineQuery, req.query);
        const page = q.page === undefined ? null : presencePath(q.page);
        const raw = await store.snapshot(account.id, { page, visitors: 0, pages: q.limit, pageSegments: account.pageSegments });
        const snap = snapshotMessage(account.id, page, raw, Date.now());
        let peaks: RecordedPeaks | null = null;
        try {
          const p = await recordedPeaks(ctx.ch, account.id);
          // The current count is a peak too, even if no sample has recorded it yet.
          peaks = { day: Math.max(p.day, raw.online), week: Math.max(p.week, raw.online), month: Math.max(p.month, raw.online) };
        } catch (err) {
          ctx.log.warn({ err, account: account.id }, '[presence] recorded peaks unavailable');
        }
        const body: OnlineResponse = {
          account: account.id,
          page,
          online: snap.online,
          authenticated: snap.authenticated,
          anonymous: snap.anonymous,
          percentages: snap.percentages,
          pages: snap.pages,
          totalPages: snap.totalPages,
          segments: snap.segments,
          crossSegment: snap.crossSegment,
          peaks,
          ts: snap.ts,
        };
        reply.json(200, body);
      }),
    );

    app.get(
      '/api/visitors/live',
      handle('visitors-live', ctx.handlerOpts, async (req, reply) => {
        const account = requireAdmin(ctx, req);
        const q = parseQuery(zVisitorsQuery, req.query);
        const page = q.page === undefined ? null : presencePath(q.page);
        const raw = await store.snapshot(account.id, { page, visitors: q.limit, pages: 0, pageSegments: account.pageSegments });
        const snap = snapshotMessage(account.id, page, raw, Date.now());
        const body: LiveVisitorsResponse = {
          account: account.id,
          page,
          online: snap.online,
          authenticated: snap.authenticated,
          anonymous: snap.anonymous,
          visitors: snap.visitors,
          truncated: snap.truncated,
          ts: snap.ts,
        };
        reply.json(200, body);
      }),
    );
  };
}
