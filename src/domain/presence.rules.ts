/**
 * Presence rules that need no store: which page an event is on, which segment a page belongs
 * to, what of an event the presence scripts get, and the percentages operators see.
 */
import type { StoredEvent } from './stored-event.js';

/** Longest page path kept in presence (longer paths are cut: keys and feeds stay small). */
export const MAX_PRESENCE_PATH = 512;

/** Presence settings of an account (see `presence` in the accounts file). */
export interface PresenceSettings {
  heartbeatMs: number;
  ttlMs: number;
  graceMs: number;
}

/**
 * The page an event is on for presence: the path without query string or fragment, cut to
 * {@link MAX_PRESENCE_PATH}. `/a?x=1` and `/a#top` are the same page.
 */
export function presencePath(path: string): string {
  let p = path;
  const cut = p.search(/[?#]/);
  if (cut >= 0) p = p.slice(0, cut);
  if (!p.startsWith('/')) p = `/${p}`;
  return p.length > MAX_PRESENCE_PATH ? p.slice(0, MAX_PRESENCE_PATH) : p;
}

/**
 * The segment a page belongs to: the value of the longest `pageSegments` key that prefixes the
 * path (`{ "/north/": "north" }` puts `/north/listing-1` in `north`), or '' when none does.
 * The longest match wins so that `/north/` and `/north/coast/` can map to different segments
 * whatever the key order of the accounts file.
 */
export function pageSegmentOf(path: string, pageSegments: Readonly<Record<string, string>>): string {
  let best = '';
  let segment = '';
  for (const [prefix, seg] of Object.entries(pageSegments)) {
    if (path.startsWith(prefix) && prefix.length > best.length) {
      best = prefix;
      segment = seg;
    }
  }
  return segment;
}

/** True when a visitor of `visitorSegment` on a page of `pageSegment` is a cross-segment visit. */
export function isCrossSegment(visitorSegment: string, pageSegment: string): boolean {
  return visitorSegment !== '' && pageSegment !== '' && visitorSegment !== pageSegment;
}

/** An event as the presence scripts take it (short keys: it is sent for every heartbeat). */
export interface PresenceEventInput {
  /** type */
  t: string;
  /** visitor id */
  v: string;
  /** session (tab) id */
  s: string;
  /** page path (see {@link presencePath}) */
  p: string;
  /** title */
  ti: string;
  /** user-agent family */
  ua: string;
  /** device class */
  dv: string;
  /** person id, '' when anonymous */
  pe: string;
  /** visitor segment, '' when unknown */
  sg: string;
  /** page segment, '' when none */
  ps: string;
  /** event id */
  id: string;
  /** label */
  lb: string;
  /** depth */
  dp: number;
  /** listing */
  ls: string;
  /** client time, ms */
  ts: number;
}

/** StoredEvent `ts` text (`YYYY-MM-DD hh:mm:ss.sss`, UTC) → ms. */
export function storedTsMs(ts: string): number {
  const ms = Date.parse(`${ts.replace(' ', 'T')}Z`);
  return Number.isFinite(ms) ? ms : 0;
}

/** What of an accepted event reaches presence. */
export function toPresenceEvent(e: StoredEvent, pageSegments: Readonly<Record<string, string>>, tsMs = storedTsMs(e.ts)): PresenceEventInput {
  const p = presencePath(e.path);
  return {
    t: e.type,
    v: e.visitor_id,
    s: e.session_id,
    p,
    ti: e.title.slice(0, 256),
    ua: e.ua_family,
    dv: e.device,
    pe: e.person_id,
    sg: e.segment,
    ps: pageSegmentOf(p, pageSegments),
    id: e.event_id,
    lb: e.label,
    dp: e.depth,
    ls: e.listing,
    ts: tsMs,
  };
}

/** Separates the fields of a packed presence event (ASCII unit separator). */
const FIELD_SEPARATOR = '\x1f';

/** A text field as packed: a separator inside it (only ever garbage in a title or path) becomes U+FFFD. */
function packable(text: string): string {
  return text.includes(FIELD_SEPARATOR) ? text.replaceAll(FIELD_SEPARATOR, '\ufffd') : text;
}

/**
 * An event as the Lua scripts read it: one string of 15 fields in the order of `read_event` in
 * redis/includes/presence-apply.lua, separated by U+001F (one argument per event to encode and
 * parse; no JSON, so the script decodes nothing).
 */
export function presenceArg(e: PresenceEventInput): string {
  const text = [e.t, e.v, e.s, e.p, e.ti, e.ua, e.dv, e.pe, e.sg, e.ps, e.id, e.lb, String(e.dp), e.ls, String(e.ts)];
  for (let i = 0; i < text.length; i++) text[i] = packable(text[i]!);
  return text.join(FIELD_SEPARATOR);
}

/** Fields of a row of `read_event`; a test holds this equal to the Lua constant. */
export const PRESENCE_EVENT_FIELDS = 15;

/** Whether an accepted event takes part in presence: it needs a visitor and a tab. */
export function hasPresence(e: Pick<StoredEvent, 'visitor_id' | 'session_id'>): boolean {
  return e.visitor_id !== '' && e.session_id !== '';
}

export interface Percentages {
  authenticated: number;
  anonymous: number;
}

/** Shares of authenticated and anonymous visitors in percent, one decimal, summing to 100 (0/0 when nobody is online). */
export function percentages(online: number, authenticated: number): Percentages {
  if (online <= 0) return { authenticated: 0, anonymous: 0 };
  const auth = Math.round((authenticated / online) * 1000) / 10;
  return { authenticated: auth, anonymous: Math.round((100 - auth) * 10) / 10 };
}

/** Start of the sample slot `now` falls in (samples are taken once a slot). */
export function sampleSlot(now: number, sampleMs: number): number {
  return Math.floor(now / sampleMs) * sampleMs;
}
