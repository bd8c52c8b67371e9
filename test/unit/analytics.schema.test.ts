import { describe, expect, it } from 'vitest';
import {
  CTR_DEFAULT_WINDOW_MS,
  parseTimeArg,
  zBriefingQuery,
  zCtrQuery,
  zEngagementQuery,
  zPageVisitorsQuery,
  zRecommendationBody,
  zRecommendationInput,
} from '../../src/domain/analytics.schema.js';
import { recommendationRow } from '../../src/domain/recommendation.js';
import { summariseSession, type TimelineEvent } from '../../src/domain/session-summary.js';

const NOW = Date.UTC(2026, 10, 20, 8, 0, 0);

describe('parseTimeArg', () => {
  it('reads ISO 8601, epoch milliseconds and durations ago', () => {
    expect(parseTimeArg('2026-11-20T08:00:00Z', NOW)).toBe(NOW);
    expect(parseTimeArg('2026-11-20T09:00:00+01:00', NOW)).toBe(NOW);
    expect(parseTimeArg(String(NOW), NOW)).toBe(NOW);
    expect(parseTimeArg('24h', NOW)).toBe(NOW - 86_400_000);
    expect(parseTimeArg('7d', NOW)).toBe(NOW - 7 * 86_400_000);
    expect(parseTimeArg('90m', NOW)).toBe(NOW - 90 * 60_000);
    expect(parseTimeArg('2w', NOW)).toBe(NOW - 14 * 86_400_000);
  });

  it('rejects anything else', () => {
    for (const bad of ['', 'yesterday', '24 hours', '-1h', '12', '2026-13-45', "1' OR '1'='1"]) expect(parseTimeArg(bad, NOW)).toBeUndefined();
  });
});

describe('query schemas', () => {
  it('recent-by-page wants exactly one of path or listing', () => {
    expect(zPageVisitorsQuery.safeParse({ path: '/a' }).success).toBe(true);
    expect(zPageVisitorsQuery.safeParse({ listing: '12-high-st' }).success).toBe(true);
    expect(zPageVisitorsQuery.safeParse({}).success).toBe(false);
    expect(zPageVisitorsQuery.safeParse({ path: '/a', listing: 'x' }).success).toBe(false);
    expect(zPageVisitorsQuery.safeParse({ path: 'a' }).success).toBe(false);
    expect(zPageVisitorsQuery.safeParse({ listing: 'a/b' }).success).toBe(false);
  });

  it('limits are bounded integers with defaults', () => {
    expect(zEngagementQuery.parse({})).toEqual({ limit: 50, include: 'all' });
    expect(zEngagementQuery.parse({ limit: '7', include: 'persons' })).toEqual({ limit: 7, include: 'persons' });
    expect(zEngagementQuery.safeParse({ limit: '0' }).success).toBe(false);
    expect(zEngagementQuery.safeParse({ limit: '1001' }).success).toBe(false);
    expect(zEngagementQuery.safeParse({ limit: '2.5' }).success).toBe(false);
    expect(zEngagementQuery.safeParse({ include: 'robots' }).success).toBe(false);
  });

  it('ctr defaults to the 30 days before `to` and refuses an empty window', () => {
    const q = zCtrQuery.parse({ to: String(NOW) });
    expect(q).toEqual({ from: NOW - CTR_DEFAULT_WINDOW_MS, to: NOW });
    expect(zCtrQuery.safeParse({ from: String(NOW), to: String(NOW) }).success).toBe(false);
    expect(zCtrQuery.safeParse({ from: 'last week' }).success).toBe(false);
  });

  it('briefing defaults to the last 24 hours', () => {
    const before = Date.now();
    const q = zBriefingQuery.parse({});
    expect(q.since).toBeGreaterThanOrEqual(before - 86_400_000);
    expect(q.since).toBeLessThanOrEqual(Date.now() - 86_400_000);
    expect(q.pages).toBe(10);
  });
});

describe('recommendations', () => {
  it('need a listing, a rec id and a session, person or visitor', () => {
    expect(zRecommendationInput.safeParse({ listing: 'a', recId: 'r' }).success).toBe(false);
    expect(zRecommendationInput.safeParse({ listing: 'a', recId: 'r', personId: 'p' }).success).toBe(true);
    expect(zRecommendationInput.safeParse({ listing: 'a', recId: 'r', sessionId: 's', ts: 'soon' }).success).toBe(false);
  });

  it('a body is one object, an array or { recommendations }', () => {
    expect(zRecommendationBody.parse({ listing: 'a' })).toHaveLength(1);
    expect(zRecommendationBody.parse([{}, {}])).toHaveLength(2);
    expect(zRecommendationBody.parse({ recommendations: [{}, {}, {}] })).toHaveLength(3);
    expect(zRecommendationBody.safeParse('x').success).toBe(false);
  });

  it('become rows of the recommendations table', () => {
    const r = zRecommendationInput.parse({ listing: '12-high-st', recId: 'r-9', sessionId: 's-1', ts: '2026-11-20T08:15:02.120Z' });
    expect(recommendationRow(r, 'acme', NOW)).toEqual({
      account_id: 'acme',
      rec_id: 'r-9',
      listing: '12-high-st',
      session_id: 's-1',
      visitor_id: '',
      person_id: '',
      ts: '2026-11-20 08:15:02.120',
      source: 'api',
    });
    expect(recommendationRow(zRecommendationInput.parse({ listing: 'x', recId: 'r', personId: 'p' }), 'acme', NOW).ts).toBe('2026-11-20 08:00:00.000');
  });
});

describe('session summary', () => {
  const ev = (tsMs: number, type: string, path: string, over: Partial<TimelineEvent> = {}): TimelineEvent => ({
    eventId: String(tsMs),
    tsMs,
    type,
    visitorId: 'v',
    cookiePersonId: '',
    path,
    url: '',
    title: '',
    referrerUrl: '',
    referrerHost: '',
    channel: 'direct',
    label: '',
    depth: 0,
    dwellMs: 0,
    listingSlug: '',
    recId: '',
    props: '',
    deviceClass: 'mobile',
    browser: 'Safari',
    countryCode: '',
    ...over,
  });

  it('entry and exit are the first and last paths; dwell sums, depth is the maximum', () => {
    const s = summariseSession([
      ev(1000, 'pageview', '/', { referrerUrl: 'https://t.co/x', referrerHost: 't.co', channel: 'social' }),
      ev(2000, 'scroll', '/', { depth: 75 }),
      ev(3000, 'pageview', '/listings/a'),
      ev(4000, 'scroll', '/listings/a', { depth: 25 }),
      ev(5000, 'click', '/listings/a', { label: 'floorplan' }),
      ev(9000, 'leave', '/listings/a', { dwellMs: 4200 }),
    ]);
    expect(s).toMatchObject({
      firstSeenMs: 1000,
      lastSeenMs: 9000,
      durationMs: 8000,
      events: 6,
      pageViews: 2,
      clicks: 1,
      maxDepth: 75,
      dwellMs: 4200,
      entryPath: '/',
      exitPath: '/listings/a',
      referrerHost: 't.co',
      channel: 'social',
      device: 'mobile',
      paths: ['/', '/listings/a'],
    });
  });
});
