import { z } from 'zod';
import type { Account } from '../domain/account.js';
import { recordedPeaks, type RecordedPeaks } from '../adapters/clickhouse/presence-peaks.store.js';
import type { PresenceStore } from '../adapters/redis/presence.store.js';
import { presencePath } from '../domain/presence.rules.js';
import { snapshotMessage, zLivePage, type LiveVisitorsResponse, type OnlineResponse } from '../domain/presence.messages.js';
import type { RouteModule } from './context.js';
import { handle, parseInput } from './http.js';
import { adminQuery, requireAdmin } from './admin-auth.js';

const zOnlineQuery = z.object({
  page: zLivePage.optional(),
  /** Top pages listed. */
  limit: z.coerce.number().int().min(1).max(1000).default(10),
});

const zVisitorsQuery = z.object({
  page: zLivePage.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** A query without the credential's parameters; one given empty (`?page=`) is absent. */
function parseQuery<T extends z.ZodType>(schema: T, q: URLSearchParams): z.output<T> {
  return parseInput(schema, adminQuery(q, { skipEmpty: true }), '', '');
}

/** `GET /api/online` and `GET /api/visitors/live` (admin key; one key, one account). */
export function presenceRoutes(store: PresenceStore): RouteModule {
  /** The site's snapshot, or the page's when one is asked for. */
  async function snapshot(account: Account, asked: string | undefined, sizes: { visitors: number; pages: number }) {
    const page = asked === undefined ? null : presencePath(asked);
    const raw = await store.snapshot(account.id, { page, ...sizes, pageSegments: account.pageSegments });
    return { page, raw, snap: snapshotMessage(account.id, page, raw, Date.now()) };
  }

  return (app, ctx) => {
    app.get(
      '/api/online',
      handle('online', ctx.handlerOpts, async (req, reply) => {
        const account = requireAdmin(ctx, req);
        const q = parseQuery(zOnlineQuery, req.query);
        const { page, raw, snap } = await snapshot(account, q.page, { visitors: 0, pages: q.limit });
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
        const { page, snap } = await snapshot(account, q.page, { visitors: q.limit, pages: 0 });
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
