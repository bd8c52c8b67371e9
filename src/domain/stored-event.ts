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
export function chTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
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
