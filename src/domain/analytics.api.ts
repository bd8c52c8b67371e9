/**
 * The analytics tools' answers as the admin API sends them and the CLI reads them: the wire
 * types of GET /api/persons/:id/sessions, /api/pages/visitors, /api/engagement, /api/ctr,
 * /api/sessions/:id and /api/briefing. Times are ISO 8601 UTC text unless the name ends in Ms.
 */
import type { EngagementParams } from './engagement.js';
import type { SessionSummary } from './session-summary.js';

/** A person (all their visitors) or an unbound visitor: how person-level results are grouped. */
export interface Who {
  kind: 'person' | 'visitor';
  /** The person id, or null for an unbound visitor. */
  personId: string | null;
  visitorIds: string[];
}

export interface SessionOverview {
  sessionId: string;
  visitorId: string;
  firstSeen: string;
  lastSeen: string;
  durationMs: number;
  events: number;
  pageViews: number;
  clicks: number;
  maxDepth: number;
  dwellMs: number;
  entryPath: string;
  exitPath: string;
  referrer: string;
  referrerHost: string;
  channel: string;
  device: string;
  browser: string;
  country: string;
}

export interface PersonSessions {
  personId: string;
  /** Visitors (devices) seen in these sessions. */
  visitorIds: string[];
  sessions: SessionOverview[];
}

export interface PageVisitor extends Who {
  firstSeen: string;
  lastSeen: string;
  views: number;
  maxDepth: number;
  dwellMs: number;
  paths: string[];
}

export interface PageVisitors {
  path: string | null;
  listing: string | null;
  pages: { path: string; title: string; listing: string }[];
  visitors: PageVisitor[];
}

export interface EngagementEntry extends Who {
  rank: number;
  score: number;
  recency: number;
  depth: number;
  dwell: number;
  ageDays: number;
  lastSeen: string;
  lastSeenMs: number;
  pageViews: number;
  scrollMilestones: number;
  dwellMs: number;
  sessions: number;
}

export interface EngagementQueue {
  asOf: string;
  asOfMs: number;
  params: EngagementParams;
  formula: string;
  queue: EngagementEntry[];
}

export interface CtrLine {
  listing: string;
  impressions: number;
  clicks: number;
  /** clicks / impressions, null without impressions. */
  ctr: number | null;
}

export interface CtrReport {
  from: string;
  to: string;
  overall: { impressions: number; clicks: number; ctr: number | null };
  listings: CtrLine[];
}

export interface TimelineEntry {
  ts: string;
  tsMs: number;
  type: string;
  path: string;
  title: string;
  label: string;
  depth: number;
  dwellMs: number;
  listing: string;
  recId: string;
  url: string;
  referrer: string;
  props: Record<string, unknown> | null;
  eventId: string;
}

export interface SessionDetail {
  sessionId: string;
  visitorId: string;
  /** Current person of the visitor (identity edge), else the person of a signed cookie, else null. */
  personId: string | null;
  summary: Omit<SessionSummary, 'firstSeenMs' | 'lastSeenMs'> & { firstSeen: string; lastSeen: string };
  timeline: TimelineEntry[];
  /** True when the session has more events than the limit asked for. */
  truncated: boolean;
}

export interface BriefingEntry extends Who {
  firstSeen: string;
  lastSeen: string;
  sessions: number;
  events: number;
  pageViews: number;
  dwellMs: number;
  /** Distinct pages in the window; `pages` lists the newest of them. */
  pageCount: number;
  pages: { path: string; title: string; listing: string; views: number; lastSeen: string }[];
}

export interface Briefing {
  since: string;
  until: string;
  people: BriefingEntry[];
}
