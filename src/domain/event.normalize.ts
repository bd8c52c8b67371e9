import { randomUUID } from 'node:crypto';
import type { BeaconEvent } from './event.schema.js';
import { chTime, type StoredEvent } from './stored-event.js';
import { channelOf, countryOf, deviceClass, hostOf, uaFamily } from './enrich.js';

/** Client clocks are trusted within this window around the receive time, clamped outside it. */
export const CLOCK_PAST_MS = 24 * 3600_000;
export const CLOCK_FUTURE_MS = 60_000;

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
}

export function clampTs(ts: number | undefined, receivedAt: number): number {
  if (ts === undefined) return receivedAt;
  return Math.min(Math.max(ts, receivedAt - CLOCK_PAST_MS), receivedAt + CLOCK_FUTURE_MS);
}

function utmMedium(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).searchParams.get('utm_medium') ?? undefined;
  } catch {
    return undefined;
  }
}

/** A validated beacon event plus request context → the row that is streamed and stored. */
export function normalizeEvent(e: BeaconEvent, accountId: string, ctx: IngestContext): StoredEvent {
  const referrerHost = hostOf(e.referrer);
  return {
    account_id: accountId,
    event_id: e.eventId ?? randomUUID(),
    ts: chTime(clampTs(e.ts, ctx.receivedAt)),
    received_at: chTime(ctx.receivedAt),
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
    ua_family: uaFamily(ctx.userAgent),
    device: deviceClass(ctx.userAgent),
    referrer_host: referrerHost,
    channel: channelOf(referrerHost, hostOf(e.url), utmMedium(e.url)),
    country: countryOf(ctx.countryHeader),
    ip_hash: ctx.ipHash,
  };
}
