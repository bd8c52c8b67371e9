/**
 * Input of the operator page's chart series (admin API query strings). Windows are [from, to),
 * each a time argument as the other analytics tools take it (ISO 8601, epoch ms, or `48h` ago).
 */
import { z } from 'zod';
import { zTimeArg } from './analytics.schema.js';

export const CHART_BUCKETS = ['hour', 'day'] as const;
export type ChartBucket = (typeof CHART_BUCKETS)[number];

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Default window by bucket: two days of hours, thirty days of days. */
export const CHART_DEFAULT_WINDOW_MS: Record<ChartBucket, number> = { hour: 2 * DAY_MS, day: 30 * DAY_MS };
/** Longest window by bucket, so a series stays a chart (at most ~750 hours or ~400 days). */
export const CHART_MAX_WINDOW_MS: Record<ChartBucket, number> = { hour: 31 * DAY_MS, day: 400 * DAY_MS };

/** An IANA time zone name the runtime knows (ClickHouse takes the same names). */
export const zTimeZone = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/, 'expected an IANA time zone such as Europe/Berlin')
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'unknown time zone');

function windowOf<T extends { from?: number; to?: number }>(q: T, defaultMs: number): Omit<T, 'from' | 'to'> & { from: number; to: number } {
  const to = q.to ?? Date.now();
  return { ...q, to, from: q.from ?? to - defaultMs };
}

const zWindow = { from: zTimeArg.optional(), to: zTimeArg.optional() };

/** `GET /api/timeseries` and `GET /api/ctr/series`: bucketed series. */
export const zSeriesQuery = z
  .object({ ...zWindow, bucket: z.enum(CHART_BUCKETS).default('hour'), tz: zTimeZone.default('UTC') })
  .transform((q) => windowOf(q, CHART_DEFAULT_WINDOW_MS[q.bucket]))
  .superRefine((q, c) => {
    if (q.from >= q.to) c.addIssue({ code: 'custom', message: 'from must be before to' });
    else if (q.to - q.from > CHART_MAX_WINDOW_MS[q.bucket])
      c.addIssue({ code: 'custom', message: `a ${q.bucket} series spans at most ${CHART_MAX_WINDOW_MS[q.bucket] / DAY_MS} days` });
  });

/** Default window of top pages and of the concurrency series: the last 24 hours. */
export const CHART_RECENT_MS = DAY_MS;
/** Longest concurrency window: a week of minute samples. */
export const ONLINE_SERIES_MAX_MS = 7 * DAY_MS;

/** `GET /api/top-pages`. */
export const zTopPagesQuery = z
  .object({ ...zWindow, limit: z.coerce.number().int().min(1).max(100).default(10) })
  .transform((q) => windowOf(q, CHART_RECENT_MS))
  .refine((q) => q.from < q.to, 'from must be before to');

/** `GET /api/online/series`. */
export const zOnlineSeriesQuery = z
  .object(zWindow)
  .transform((q) => windowOf(q, CHART_RECENT_MS))
  .refine((q) => q.from < q.to, 'from must be before to')
  .refine((q) => q.to - q.from <= ONLINE_SERIES_MAX_MS, `the concurrency series spans at most ${ONLINE_SERIES_MAX_MS / DAY_MS} days`);

export type SeriesQuery = z.output<typeof zSeriesQuery>;
