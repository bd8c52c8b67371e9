/**
 * The live feed protocol: diffs as the presence scripts publish them, and the messages each
 * kind of subscriber gets from them (the whole site, one page, or public counts).
 */
import { z } from 'zod';
import { isCrossSegment, percentages, type Percentages } from './presence.rules.js';

/** Why a visitor (or, for a page feed, a visitor's last tab on that page) went away. */
export type LeaveReason = 'leave' | 'timeout' | 'forget' | 'navigate';

/** A visitor as the scripts describe it (see redis/includes/presence-core.lua `view_of`). */
export interface RawVisitorView {
  id: string;
  sid: string;
  path: string;
  title: string;
  ua: string;
  dev: string;
  person: string;
  seg: string;
  pseg: string;
  pv: number;
  joined: number;
  seen: number;
  act: number;
  tabs: number;
  /** Pages the visitor has a tab on; Lua's JSON encoder writes an empty list as `{}`. */
  on: string[] | Record<string, never>;
}

export interface RawEvent {
  type: string;
  path: string;
  label: string;
  depth: number;
  listing: string;
  ts: number;
  id: string;
}

/** One published change of an account's presence, numbered by `seq` (per account, no gaps). */
export interface PresenceDiff {
  seq: number;
  k: 'join' | 'leave' | 'update' | 'event';
  /** visitor id */
  v: string;
  vis?: RawVisitorView;
  /** why a tab or the visitor ended */
  r?: 'leave' | 'timeout' | 'forget';
  /** site counts after the change: [online, authenticated] */
  c?: [number, number];
  /** pages whose counts changed: path → [visitors, authenticated] */
  pg?: Record<string, [number, number]>;
  /** pages the visitor entered / left with this change */
  in?: string[];
  out?: string[];
  e?: RawEvent;
}

/** Parse a diff from the channel; anything malformed is undefined (never thrown into the feed). */
export function parseDiff(text: string): PresenceDiff | undefined {
  try {
    const d = JSON.parse(text) as PresenceDiff;
    if (typeof d !== 'object' || d === null || typeof d.seq !== 'number' || typeof d.v !== 'string') return undefined;
    if (d.k !== 'join' && d.k !== 'leave' && d.k !== 'update' && d.k !== 'event') return undefined;
    return d;
  } catch {
    return undefined;
  }
}

function list(x: string[] | Record<string, never> | undefined): string[] {
  return Array.isArray(x) ? x : [];
}

/** A visitor as operators see it. */
export interface LiveVisitor {
  visitorId: string;
  /** The tab shown (the one most recently navigated). */
  sessionId: string;
  personId: string | null;
  authenticated: boolean;
  path: string;
  title: string;
  uaFamily: string;
  device: string;
  /** Page views since they joined. */
  pagesViewed: number;
  /** ms since the epoch */
  joinedAt: number;
  /** Last event of any kind, heartbeats included (ms). */
  lastSeen: number;
  /** Last event other than a heartbeat (ms); the live list is sorted by it. */
  lastActivity: number;
  segment: string | null;
  pageSegment: string | null;
  crossSegment: boolean;
  /** Open tabs (sessions) of this visitor. */
  tabs: number;
  /** Pages with at least one of their tabs. */
  openPages: string[];
}

export function toLiveVisitor(r: RawVisitorView): LiveVisitor {
  return {
    visitorId: r.id,
    sessionId: r.sid,
    personId: r.person || null,
    authenticated: r.person !== '',
    path: r.path,
    title: r.title,
    uaFamily: r.ua,
    device: r.dev,
    pagesViewed: r.pv,
    joinedAt: r.joined,
    lastSeen: r.seen,
    lastActivity: r.act,
    segment: r.seg || null,
    pageSegment: r.pseg || null,
    crossSegment: isCrossSegment(r.seg, r.pseg),
    tabs: r.tabs,
    openPages: list(r.on),
  };
}

export interface PageCount {
  path: string;
  count: number;
  authenticated: number;
}

export interface SegmentCount {
  segment: string;
  online: number;
  /** Of those, visitors on a page of another segment. */
  crossSegment: number;
}

export interface Counts {
  online: number;
  authenticated: number;
  anonymous: number;
}

function counts(online: number, auth: number): Counts {
  return { online, authenticated: auth, anonymous: Math.max(0, online - auth) };
}

function pageCounts(pg: PresenceDiff['pg']): PageCount[] {
  return Object.entries(pg ?? {}).map(([path, [count, authenticated]]) => ({ path, count, authenticated }));
}

export interface SnapshotMessage extends Counts {
  type: 'snapshot';
  seq: number;
  account: string;
  /** The page this feed is about, or null for the whole site. */
  page: string | null;
  percentages: Percentages;
  /** Pages with the most visitors (site feed), or the page itself (page feed). */
  pages: PageCount[];
  /** Pages with at least one visitor. */
  totalPages: number;
  segments: SegmentCount[];
  crossSegment: number;
  /** Most recently active first. */
  visitors: LiveVisitor[];
  /** True when more visitors are online than the list holds. */
  truncated: boolean;
  ts: number;
}

export interface JoinMessage extends Partial<Counts> {
  type: 'join';
  seq: number;
  page?: string;
  visitor: LiveVisitor;
  pages: PageCount[];
}

export interface LeaveMessage extends Partial<Counts> {
  type: 'leave';
  seq: number;
  page?: string;
  visitorId: string;
  reason: LeaveReason;
  pages: PageCount[];
}

export interface UpdateMessage extends Partial<Counts> {
  type: 'update';
  seq: number;
  page?: string;
  visitor: LiveVisitor;
  pages: PageCount[];
}

export interface EventMessage {
  type: 'event';
  seq: number;
  page?: string;
  visitorId: string;
  event: { type: string; path: string; label: string; depth: number; listing: string; ts: number; eventId: string };
}

/** What public feeds get: a count, never an identity. */
export interface CountMessage {
  type: 'count';
  account: string;
  page: string | null;
  online: number;
}

export type LiveMessage = SnapshotMessage | JoinMessage | LeaveMessage | UpdateMessage | EventMessage;

function eventMessage(d: PresenceDiff, page?: string): EventMessage | undefined {
  if (!d.e) return undefined;
  const e = d.e;
  return {
    type: 'event',
    seq: d.seq,
    ...(page ? { page } : {}),
    visitorId: d.v,
    event: { type: e.type, path: e.path, label: e.label, depth: e.depth, listing: e.listing, ts: e.ts, eventId: e.id },
  };
}

/** The message a whole-site operator feed gets for a diff. */
export function siteMessage(d: PresenceDiff): LiveMessage | undefined {
  const c = d.c ? counts(d.c[0], d.c[1]) : {};
  switch (d.k) {
    case 'join':
      return d.vis ? { type: 'join', seq: d.seq, visitor: toLiveVisitor(d.vis), ...c, pages: pageCounts(d.pg) } : undefined;
    case 'leave':
      return { type: 'leave', seq: d.seq, visitorId: d.v, reason: d.r ?? 'leave', ...c, pages: pageCounts(d.pg) };
    case 'update':
      return d.vis ? { type: 'update', seq: d.seq, visitor: toLiveVisitor(d.vis), ...c, pages: pageCounts(d.pg) } : undefined;
    case 'event':
      return eventMessage(d);
  }
}

/**
 * The message an operator feed of one page gets: a visitor's first tab on the page is a
 * `join`, their last tab leaving it a `leave` (reason `navigate` when they are still on the
 * site), changes of a visitor on the page an `update`, events on the page an `event`.
 * Counts are the page's.
 */
export function pageMessage(d: PresenceDiff, page: string): LiveMessage | undefined {
  const pc = d.pg?.[page];
  const c = pc ? counts(pc[0], pc[1]) : {};
  const pages = pc ? [{ path: page, count: pc[0], authenticated: pc[1] }] : [];
  if (list(d.in).includes(page) && d.vis) {
    return { type: 'join', seq: d.seq, page, visitor: toLiveVisitor(d.vis), ...c, pages };
  }
  if (list(d.out).includes(page)) {
    const reason: LeaveReason = d.k === 'leave' ? (d.r ?? 'leave') : (d.r ?? 'navigate');
    return { type: 'leave', seq: d.seq, page, visitorId: d.v, reason, ...c, pages };
  }
  if (d.k === 'update' && d.vis && list(d.vis.on).includes(page)) {
    return { type: 'update', seq: d.seq, page, visitor: toLiveVisitor(d.vis), ...c, pages };
  }
  if (d.k === 'event' && d.e?.path === page) return eventMessage(d, page);
  return undefined;
}

/** The count a public feed gets, only when its count changed. */
export function publicCount(d: PresenceDiff, account: string, page: string | null): CountMessage | undefined {
  if (page === null) {
    if ((d.k === 'join' || d.k === 'leave') && d.c) return { type: 'count', account, page: null, online: d.c[0] };
    return undefined;
  }
  const pc = d.pg?.[page];
  if (pc && (list(d.in).includes(page) || list(d.out).includes(page))) return { type: 'count', account, page, online: pc[0] };
  return undefined;
}

/** Every page a diff may concern (whose page and public feeds are asked). */
export function pagesOf(d: PresenceDiff): string[] {
  const s = new Set<string>([...list(d.in), ...list(d.out), ...Object.keys(d.pg ?? {})]);
  if (d.k === 'update' && d.vis) for (const p of list(d.vis.on)) s.add(p);
  if (d.k === 'event' && d.e) s.add(d.e.path);
  return [...s];
}

/** What the snapshot script returns (see redis/presence-snapshot-1.lua). */
export interface RawSnapshot {
  seq: number;
  online: number;
  auth: number;
  npages: number;
  pages: [string, number, number][] | Record<string, never>;
  segs: [string, number, number][] | Record<string, never>;
  visitors: RawVisitorView[] | Record<string, never>;
}

/** A snapshot of the site or of one page, as `/live`, `/api/online` and `/api/visitors/live` show it. */
export function snapshotMessage(account: string, page: string | null, raw: RawSnapshot, now: number): SnapshotMessage {
  const visitors = (Array.isArray(raw.visitors) ? raw.visitors : [])
    .map(toLiveVisitor)
    .sort((a, b) => b.lastActivity - a.lastActivity || a.visitorId.localeCompare(b.visitorId));
  const segments = (Array.isArray(raw.segs) ? raw.segs : [])
    .map(([segment, online, crossSegment]) => ({ segment, online, crossSegment }))
    .sort((a, b) => b.online - a.online || a.segment.localeCompare(b.segment));
  let pages = (Array.isArray(raw.pages) ? raw.pages : [])
    .map(([path, count, authenticated]) => ({ path, count, authenticated }))
    .sort((a, b) => b.count - a.count || a.path.localeCompare(b.path));
  if (page !== null) pages = [{ path: page, count: raw.online, authenticated: raw.auth }];
  return {
    type: 'snapshot',
    seq: raw.seq,
    account,
    page,
    ...counts(raw.online, raw.auth),
    percentages: percentages(raw.online, raw.auth),
    pages,
    totalPages: raw.npages,
    segments,
    crossSegment: segments.reduce((n, s) => n + s.crossSegment, 0),
    visitors,
    truncated: visitors.length < raw.online,
    ts: now,
  };
}

/** Messages a live client may send; anything else is ignored. */
export const zLiveClientMessage = z.object({ type: z.literal('ping') });

export type LiveClientMessage = z.infer<typeof zLiveClientMessage>;

/** A page named in a live subscription or a query: a path, as ingest accepts it. */
export const zLivePage = z.string().min(1).max(2048).startsWith('/');

/** `GET /api/online`: the snapshot's counts and pages, without its visitors. */
export interface OnlineResponse extends Omit<SnapshotMessage, 'type' | 'seq' | 'visitors' | 'truncated'> {
  /** Peaks of the current UTC day, ISO week and month (null when ClickHouse is unreachable). */
  peaks: { day: number; week: number; month: number } | null;
}

/** `GET /api/visitors/live`: the snapshot's counts and visitors. */
export type LiveVisitorsResponse = Pick<SnapshotMessage, 'account' | 'page' | keyof Counts | 'visitors' | 'truncated' | 'ts'>;
