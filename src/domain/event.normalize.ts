import { randomUUID } from 'node:crypto';
import type { BeaconEvent } from './event.schema.js';
import { chTime, type StoredEvent } from './stored-event.js';
import { BoundedMemo } from './bounded-memo.js';
import { channelOf, countryOf, deviceClass, uaFamily } from './enrich.js';

/** Client clocks are trusted within this window around the receive time, clamped outside it. */
export const CLOCK_PAST_MS = 24 * 3600_000;
export const CLOCK_FUTURE_MS = 60_000;

/** What the user agent says, worked out once per request (or per distinct agent). */
export interface UserAgentFacts {
  family: string;
  device: string;
}

/** What the gateway knows about the request, copied before any await. */
export interface IngestContext {
  receivedAt: number;
  userAgent: string;
  /** Salted daily hash of the client IP; the raw IP is never stored. */
  ipHash: string;
  /** Country header value from a trusted proxy, if any. */
  countryHeader?: string;
  /** Person from a valid `mxy_v` cookie. */
  personId?: string;
  /** `userAgent` already classified (saves the regular expressions per event). */
  ua?: UserAgentFacts;
}

export function clampTs(ts: number | undefined, receivedAt: number): number {
  if (ts === undefined) return receivedAt;
  return Math.min(Math.max(ts, receivedAt - CLOCK_PAST_MS), receivedAt + CLOCK_FUTURE_MS);
}

export function userAgentFacts(ua: string): UserAgentFacts {
  return { family: uaFamily(ua), device: deviceClass(ua) };
}

/** What enrichment reads of a page URL: its host and its `utm_medium`. */
interface UrlParts {
  host: string;
  utmMedium: string | undefined;
}

const NO_URL: UrlParts = { host: '', utmMedium: undefined };

/**
 * Pages repeat across requests (the same listing, the same referrer), and `new URL` is the
 * dearest step of normalising: parts are remembered per URL (bounded, cleared when full; long
 * URLs are not kept).
 */
const urls = new BoundedMemo<UrlParts>(20_000, 512);

function parseUrlParts(url: string): UrlParts {
  try {
    const u = new URL(url);
    return { host: u.hostname.toLowerCase(), utmMedium: u.searchParams.get('utm_medium') ?? undefined };
  } catch {
    return NO_URL;
  }
}

function urlParts(url: string | undefined): UrlParts {
  return url ? urls.get(url, parseUrlParts) : NO_URL;
}

/** Once per request: the receive time as the table's text, and what the request says about its sender. */
export interface RequestParts {
  receivedText: string;
  ua: UserAgentFacts;
  country: string;
}

export function requestParts(ctx: IngestContext): RequestParts {
  return { receivedText: chTime(ctx.receivedAt), ua: ctx.ua ?? userAgentFacts(ctx.userAgent), country: countryOf(ctx.countryHeader) };
}

/** A validated beacon event plus request context → the row that is streamed and stored. */
export function normalizeEvent(e: BeaconEvent, accountId: string, ctx: IngestContext, parts: RequestParts = requestParts(ctx)): StoredEvent {
  const referrerHost = urlParts(e.referrer).host;
  const page = urlParts(e.url);
  const ts = clampTs(e.ts, ctx.receivedAt);
  return {
    account_id: accountId,
    event_id: e.eventId ?? randomUUID(),
    ts: ts === ctx.receivedAt ? parts.receivedText : chTime(ts),
    received_at: parts.receivedText,
    type: e.type,
    session_id: e.sessionId,
    visitor_id: e.visitorId,
    person_id: ctx.personId ?? '',
    path: e.path,
    url: e.url ?? '',
    title: e.title ?? '',
    referrer: e.referrer ?? '',
    label: e.label ?? '',
    depth: e.depth ?? 0,
    dwell_ms: e.dwellMs ?? 0,
    listing: e.listing ?? '',
    rec_id: e.rec ?? '',
    segment: e.segment ?? '',
    props: e.props ? JSON.stringify(e.props) : '',
    ua_family: parts.ua.family,
    device: parts.ua.device,
    referrer_host: referrerHost,
    channel: channelOf(referrerHost, page.host, page.utmMedium),
    country: parts.country,
    ip_hash: ctx.ipHash,
  };
}
