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
