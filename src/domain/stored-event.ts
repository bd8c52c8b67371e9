import type { EventType } from './event.schema.js';

/**
 * An accepted event as it travels through the stream and lands in ClickHouse `events`:
 * field names are the table's column names, so the flusher inserts it as it is.
 */
export interface StoredEvent {
  account_id: string;
  event_id: string;
  /** `YYYY-MM-DD hh:mm:ss.sss` UTC. */
  ts: string;
  received_at: string;
  type: EventType;
  session_id: string;
  visitor_id: string;
  person_id: string;
  path: string;
  url: string;
  title: string;
  referrer: string;
  label: string;
  depth: number;
  dwell_ms: number;
  listing: string;
  rec_id: string;
  segment: string;
  props: string;
  ua_family: string;
  device: string;
  referrer_host: string;
  channel: string;
  country: string;
  ip_hash: string;
}

/** Milliseconds → ClickHouse DateTime64(3) text in UTC. */
let lastMs = NaN;
let lastText = '';

export function chTime(ms: number): string {
  // Requests within one millisecond (and an event without its own time) share the text.
  if (ms === lastMs) return lastText;
  const iso = new Date(ms).toISOString();
  lastMs = ms;
  // Years past 9999 are written with a sign and six digits: not the table's form, kept as it was.
  lastText = iso.length === 24 ? `${iso.slice(0, 10)} ${iso.slice(11, 23)}` : iso.replace('T', ' ').replace('Z', '');
  return lastText;
}

/**
 * A stored event with every column at its empty default but those given (ts and received_at:
 * now), for rows written to the stream directly rather than through ingest: a test's backlog or
 * the rows ClickHouse must refuse, the bench's seeded stream.
 */
export function storedEvent({ account_id, event_id, ...over }: Partial<StoredEvent> & Pick<StoredEvent, 'account_id' | 'event_id'>): StoredEvent {
  const now = chTime(Date.now());
  return {
    account_id,
    event_id,
    ts: now,
    received_at: now,
    type: 'pageview',
    session_id: 's',
    visitor_id: 'v',
    person_id: '',
    path: '/',
    url: '',
    title: '',
    referrer: '',
    label: '',
    depth: 0,
    dwell_ms: 0,
    listing: '',
    rec_id: '',
    segment: '',
    props: '',
    ua_family: '',
    device: '',
    referrer_host: '',
    channel: '',
    country: '',
    ip_hash: '',
    ...over,
  };
}
