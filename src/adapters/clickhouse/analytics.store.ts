/**
 * The operator's analytics tools over ClickHouse: each method runs one or two named queries
 * from `clickhouse/queries/` (query parameters only) and shapes the rows for the admin API.
 * Every query is scoped by the account id of the caller's admin key.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { ENGAGEMENT_FORMULA, engagementParams, engagementViewParams } from '../../domain/engagement.js';
import { summariseSession, type TimelineEvent } from '../../domain/session-summary.js';
import { chTime } from '../../domain/stored-event.js';
import type { Account } from '../../domain/account.js';
import { runQuery, type RunQueryOptions } from './queries.js';
import type { Who, PersonSessions, PageVisitors, EngagementQueue, CtrReport, SessionDetail, Briefing } from '../../domain/analytics.api.js';

/** Epoch ms → ISO 8601 UTC. */
export const iso = (ms: number): string => new Date(ms).toISOString();

function who(kind: string, id: string, visitors: string[]): Who {
  return kind === 'person'
    ? { kind: 'person', personId: id, visitorIds: visitors }
    : { kind: 'visitor', personId: null, visitorIds: visitors.length ? visitors : [id] };
}

/** A row naming a person or an anonymous visitor, with when they were first and last seen. */
function whoSeen(r: { kind: string; who: string; visitors: string[]; firstSeenMs: number; lastSeenMs: number }) {
  return { ...who(r.kind, r.who, r.visitors), firstSeen: iso(r.firstSeenMs), lastSeen: iso(r.lastSeenMs) };
}

// ---- recent-by-person ------------------------------------------------------------------

interface PersonSessionRow {
  sessionId: string;
  visitorId: string;
  firstSeenMs: number;
  lastSeenMs: number;
  eventCount: number;
  pageViews: number;
  clickCount: number;
  maxDepth: number;
  dwellMs: number;
  entryPath: string;
  exitPath: string;
  referrerUrl: string;
  referrerHost: string;
  entryChannel: string;
  deviceClass: string;
  browser: string;
  countryCode: string;
}

// ---- recent-by-page --------------------------------------------------------------------

interface PageRow {
  path: string;
  pageTitle: string;
  listingSlug: string;
}

interface PageVisitorRow {
  kind: string;
  who: string;
  visitors: string[];
  firstSeenMs: number;
  lastSeenMs: number;
  views: number;
  maxDepth: number;
  dwellMs: number;
  paths: string[];
}

// ---- engagement-score ------------------------------------------------------------------

interface EngagementRow {
  kind: string;
  who: string;
  visitors: string[];
  lastSeenMs: number;
  pageViews: number;
  scrollMilestones: number;
  dwellMs: number;
  ageDays: number;
  recency: number;
  depth: number;
  dwell: number;
  score: number;
}

// ---- recommendation-ctr ----------------------------------------------------------------

interface CtrRow {
  listingSlug: string;
  impressions: number;
  clicks: number;
  ctr: number | null;
}

// ---- briefing --------------------------------------------------------------------------

interface BriefingRow {
  kind: string;
  who: string;
  visitors: string[];
  sessionCount: number;
  eventCount: number;
  pageViews: number;
  dwellMs: number;
  firstSeenMs: number;
  lastSeenMs: number;
  pageCount: number;
  /** (path, title, listing, views, lastSeenMs) */
  pages: [string, string, string, number, number][];
}

function parseProps(text: string): Record<string, unknown> | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
}

export interface AnalyticsStoreOptions {
  /** Longest run of each query (`ADMIN_QUERY_TIMEOUT_MS`); past it a {@link QueryTimeLimitError}. */
  timeoutMs?: number;
}

export class AnalyticsStore {
  readonly #opts: RunQueryOptions;

  constructor(
    private readonly ch: ClickHouseClient,
    opts: AnalyticsStoreOptions = {},
  ) {
    this.#opts = { timeoutMs: opts.timeoutMs };
  }

  async recentByPerson(account: string, personId: string, limit: number): Promise<PersonSessions> {
    const rows = await runQuery<PersonSessionRow>(this.ch, 'recent-by-person', { account, person: personId, limit }, this.#opts);
    const sessions = rows.map((r) => ({
      sessionId: r.sessionId,
      visitorId: r.visitorId,
      firstSeen: iso(r.firstSeenMs),
      lastSeen: iso(r.lastSeenMs),
      durationMs: r.lastSeenMs - r.firstSeenMs,
      events: r.eventCount,
      pageViews: r.pageViews,
      clicks: r.clickCount,
      maxDepth: r.maxDepth,
      dwellMs: r.dwellMs,
      entryPath: r.entryPath,
      exitPath: r.exitPath,
      referrer: r.referrerUrl,
      referrerHost: r.referrerHost,
      channel: r.entryChannel,
      device: r.deviceClass,
      browser: r.browser,
      country: r.countryCode,
    }));
    return { personId, visitorIds: [...new Set(sessions.map((s) => s.visitorId))].sort(), sessions };
  }

  async recentByPage(account: string, target: { path?: string; listing?: string }, limit: number): Promise<PageVisitors> {
    const pages = await runQuery<PageRow>(this.ch, 'pages-lookup', { account, path: target.path ?? '', listing: target.listing ?? '' }, this.#opts);
    // A path with no metadata yet (no page view seen) is still asked for: heartbeats may exist.
    const paths = target.path ? [target.path] : pages.map((p) => p.path);
    const rows = paths.length ? await runQuery<PageVisitorRow>(this.ch, 'recent-by-page', { account, paths, limit }, this.#opts) : [];
    return {
      path: target.path ?? null,
      listing: target.listing ?? null,
      pages: pages.map((p) => ({ path: p.path, title: p.pageTitle, listing: p.listingSlug })),
      visitors: rows.map((r) => ({
        ...whoSeen(r),
        views: r.views,
        maxDepth: r.maxDepth,
        dwellMs: r.dwellMs,
        paths: r.paths,
      })),
    };
  }

  async engagement(account: Account, limit: number, include: 'all' | 'persons', asOfMs: number): Promise<EngagementQueue> {
    const params = engagementParams(account);
    const rows = await runQuery<EngagementRow>(
      this.ch,
      'engagement-score',
      {
        account: account.id,
        include,
        limit,
        ...engagementViewParams(params, asOfMs),
      },
      this.#opts,
    );
    const visitors = rows.flatMap((r) => r.visitors);
    const counts = visitors.length
      ? await runQuery<{ visitorId: string; sessionCount: number }>(this.ch, 'visitor-sessions', { account: account.id, visitors }, this.#opts)
      : [];
    const sessionsOf = new Map(counts.map((c) => [c.visitorId, c.sessionCount]));
    return {
      asOf: iso(asOfMs),
      asOfMs,
      params,
      formula: ENGAGEMENT_FORMULA,
      queue: rows.map((r, i) => ({
        rank: i + 1,
        ...who(r.kind, r.who, r.visitors),
        score: r.score,
        recency: r.recency,
        depth: r.depth,
        dwell: r.dwell,
        ageDays: r.ageDays,
        lastSeen: iso(r.lastSeenMs),
        lastSeenMs: r.lastSeenMs,
        pageViews: r.pageViews,
        scrollMilestones: r.scrollMilestones,
        dwellMs: r.dwellMs,
        sessions: r.visitors.reduce((n, v) => n + (sessionsOf.get(v) ?? 0), 0),
      })),
    };
  }

  async ctr(account: string, fromMs: number, toMs: number): Promise<CtrReport> {
    const rows = await runQuery<CtrRow>(this.ch, 'recommendation-ctr', { account, from: chTime(fromMs), to: chTime(toMs) }, this.#opts);
    const impressions = rows.reduce((s, r) => s + r.impressions, 0);
    const clicks = rows.reduce((s, r) => s + r.clicks, 0);
    return {
      from: iso(fromMs),
      to: iso(toMs),
      overall: { impressions, clicks, ctr: impressions ? clicks / impressions : null },
      listings: rows.map((r) => ({ listing: r.listingSlug, impressions: r.impressions, clicks: r.clicks, ctr: r.ctr })),
    };
  }

  async sessionDetail(account: string, sessionId: string, limit: number): Promise<SessionDetail | undefined> {
    // One more than asked, to tell a complete timeline from a truncated one.
    const rows = await runQuery<TimelineEvent>(this.ch, 'session-detail', { account, session: sessionId, limit: limit + 1 }, this.#opts);
    if (!rows.length) return undefined;
    const truncated = rows.length > limit;
    const timeline = truncated ? rows.slice(0, limit) : rows;
    // Events without a visitor id (a click link opened by an unknown browser) name no one.
    const visitorId = timeline.find((e) => e.visitorId)?.visitorId ?? '';
    const bound = visitorId
      ? await runQuery<{ visitorId: string; personId: string }>(this.ch, 'visitor-persons', { account, visitors: [visitorId] }, this.#opts)
      : [];
    const cookie = timeline.map((e) => e.cookiePersonId).find(Boolean);
    const { firstSeenMs, lastSeenMs, ...rest } = summariseSession(timeline);
    return {
      sessionId,
      visitorId,
      personId: bound[0]?.personId || cookie || null,
      summary: { firstSeen: iso(firstSeenMs), lastSeen: iso(lastSeenMs), ...rest },
      timeline: timeline.map((e) => ({
        ts: iso(e.tsMs),
        tsMs: e.tsMs,
        type: e.type,
        path: e.path,
        title: e.title,
        label: e.label,
        depth: e.depth,
        dwellMs: e.dwellMs,
        listing: e.listingSlug,
        recId: e.recId,
        url: e.url,
        referrer: e.referrerUrl,
        props: parseProps(e.props),
        eventId: e.eventId,
      })),
      truncated,
    };
  }

  async briefing(account: string, sinceMs: number, limit: number, pagesPerEntry: number, nowMs: number): Promise<Briefing> {
    const rows = await runQuery<BriefingRow>(this.ch, 'briefing', { account, since: chTime(sinceMs), limit, pages: pagesPerEntry }, this.#opts);
    return {
      since: iso(sinceMs),
      until: iso(nowMs),
      people: rows.map((r) => ({
        ...whoSeen(r),
        sessions: r.sessionCount,
        events: r.eventCount,
        pageViews: r.pageViews,
        dwellMs: r.dwellMs,
        pageCount: r.pageCount,
        pages: r.pages.map(([path, title, listing, views, last]) => ({ path, title, listing, views, lastSeen: iso(last) })),
      })),
    };
  }
}
