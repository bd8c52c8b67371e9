import type { SessionOverview } from './analytics.api.js';
/**
 * The summary of one session, derived from its ordered timeline: the same rules as the
 * `sessions` aggregate (entry/exit page = path of the first/last event, referrer of the first).
 */

/** One event of a session timeline (a row of clickhouse/queries/session-detail.sql). */
export interface TimelineEvent {
  eventId: string;
  tsMs: number;
  type: string;
  visitorId: string;
  cookiePersonId: string;
  path: string;
  url: string;
  title: string;
  referrerUrl: string;
  referrerHost: string;
  channel: string;
  label: string;
  depth: number;
  dwellMs: number;
  listingSlug: string;
  recId: string;
  props: string;
  deviceClass: string;
  browser: string;
  countryCode: string;
}

/** A session's overview as the admin API gives it, with times in ms and the paths visited. */
export interface SessionSummary extends Omit<SessionOverview, 'sessionId' | 'visitorId' | 'firstSeen' | 'lastSeen'> {
  firstSeenMs: number;
  lastSeenMs: number;
  /** Distinct paths in the order first visited. */
  paths: string[];
}

/** Summarise a non-empty timeline ordered by time. */
export function summariseSession(timeline: readonly TimelineEvent[]): SessionSummary {
  const first = timeline[0]!;
  const last = timeline[timeline.length - 1]!;
  const paths: string[] = [];
  for (const e of timeline) if (!paths.includes(e.path)) paths.push(e.path);
  const max = (pick: (e: TimelineEvent) => string) => timeline.map(pick).reduce((a, b) => (b > a ? b : a), '');
  return {
    firstSeenMs: first.tsMs,
    lastSeenMs: last.tsMs,
    durationMs: last.tsMs - first.tsMs,
    events: timeline.length,
    pageViews: timeline.filter((e) => e.type === 'pageview').length,
    clicks: timeline.filter((e) => e.type === 'click').length,
    maxDepth: timeline.reduce((m, e) => Math.max(m, e.depth), 0),
    dwellMs: timeline.reduce((s, e) => s + e.dwellMs, 0),
    entryPath: first.path,
    exitPath: last.path,
    referrer: first.referrerUrl,
    referrerHost: first.referrerHost,
    channel: first.channel,
    device: max((e) => e.deviceClass),
    browser: max((e) => e.browser),
    country: max((e) => e.countryCode),
    paths,
  };
}
