/**
 * Input of the analytics tools (admin API query strings and bodies, CLI flags). Every value an
 * operator sends goes through one of these schemas before it reaches a query parameter.
 */
import { z } from 'zod';

import { zListingSlug, zPersonId, zRecId, zSessionId, zVisitorId } from './ids.js';
export const zPagePath = z.string().min(1).max(2048).startsWith('/', 'path must start with /');

const RELATIVE = /^(\d{1,6})(s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A point in time: ISO 8601 (`2026-11-20T08:00:00Z`), epoch milliseconds (`1795430000000`), or a
 * duration before `now` (`90m`, `24h`, `7d`, `2w`). Undefined when the text is none of these.
 */
export function parseTimeArg(text: string, now: number): number | undefined {
  const t = text.trim();
  const rel = RELATIVE.exec(t);
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2]!]!;
  if (/^\d{10,16}$/.test(t)) return Number(t);
  if (!/^\d{4}-\d{2}-\d{2}/.test(t)) return undefined;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Earliest and latest instants accepted (ClickHouse DateTime64 covers far more; this is sanity). */
const MIN_MS = Date.UTC(2000, 0, 1);
const MAX_MS = Date.UTC(2200, 0, 1);

/** A time argument → epoch ms (relative values are resolved against the time of parsing). */
export const zTimeArg = z.string().transform((s, c) => {
  const ms = parseTimeArg(s, Date.now());
  if (ms === undefined || ms < MIN_MS || ms > MAX_MS) {
    c.addIssue({ code: 'custom', message: 'expected an ISO 8601 time, epoch milliseconds, or a duration ago such as 24h or 7d' });
    return z.NEVER;
  }
  return ms;
});

const zLimit = (def: number, max: number) => z.coerce.number().int().min(1).max(max).default(def);

export const zPersonSessionsQuery = z.object({ limit: zLimit(50, 500) });

export const zPageVisitorsQuery = z
  .object({
    path: zPagePath.optional(),
    listing: zListingSlug.optional(),
    limit: zLimit(50, 500),
  })
  .refine((q) => (q.path === undefined) !== (q.listing === undefined), 'give exactly one of path or listing');

export const ENGAGEMENT_INCLUDE = ['all', 'persons'] as const;

export const zEngagementQuery = z.object({
  limit: zLimit(50, 1000),
  /** `persons`: only visitors bound to a known person (the people an operator can call). */
  include: z.enum(ENGAGEMENT_INCLUDE).default('all'),
});

/** Default CTR window when `from` is absent: the 30 days before `to`. */
export const CTR_DEFAULT_WINDOW_MS = 30 * 86_400_000;

export const zCtrQuery = z
  .object({ from: zTimeArg.optional(), to: zTimeArg.optional() })
  .transform((q) => {
    const to = q.to ?? Date.now();
    return { to, from: q.from ?? to - CTR_DEFAULT_WINDOW_MS };
  })
  .refine((q) => q.from < q.to, 'from must be before to');

export const zSessionDetailQuery = z.object({ limit: zLimit(5000, 50_000) });

/** Default briefing window when `since` is absent. */
export const BRIEFING_DEFAULT_MS = 24 * 3_600_000;

export const zBriefingQuery = z
  .object({
    since: zTimeArg.optional(),
    limit: zLimit(100, 1000),
    /** Pages listed per person or visitor. */
    pages: zLimit(10, 100),
  })
  .transform((q) => ({ ...q, since: q.since ?? Date.now() - BRIEFING_DEFAULT_MS }));

/** Largest batch of `POST /api/recommendations`. */
export const MAX_RECOMMENDATIONS_PER_REQUEST = 1000;

/** A recommendation time: epoch ms or ISO 8601. */
const zWhen = z.union([z.number().int().nonnegative(), z.string()]).transform((v, c) => {
  const ms = typeof v === 'number' ? v : parseTimeArg(v, Date.now());
  if (ms === undefined || ms < MIN_MS || ms > MAX_MS) {
    c.addIssue({ code: 'custom', message: 'ts must be epoch milliseconds or an ISO 8601 time' });
    return z.NEVER;
  }
  return ms;
});

/** What the recommender showed: one listing of one recommendation to a session and/or person. */
export const zRecommendationInput = z
  .object({
    listing: zListingSlug,
    recId: zRecId,
    sessionId: zSessionId.optional(),
    personId: zPersonId.optional(),
    visitorId: zVisitorId.optional(),
    ts: zWhen.optional(),
  })
  .refine((r) => r.sessionId || r.personId || r.visitorId, 'give at least one of sessionId, personId, visitorId');

export type RecommendationInput = z.infer<typeof zRecommendationInput>;

/** One recommendation, `{ "recommendations": [ … ] }`, or a bare array. */
export const zRecommendationBody = z.union([
  z.array(z.unknown()).min(1),
  z.object({ recommendations: z.array(z.unknown()).min(1) }).transform((b) => b.recommendations),
  z.record(z.string(), z.unknown()).transform((r) => [r as unknown]),
]);
