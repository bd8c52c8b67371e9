import { chTime } from '../../src/domain/stored-event.js';

/**
 * An `events` row as the gateway stores it in the stream (every column, empty defaults), for
 * tests that write the stream directly: a backlog to flush, or rows ClickHouse must refuse.
 */
export function storedEventRow(over: Record<string, unknown> & { account_id: string; event_id: string }): Record<string, unknown> {
  const now = chTime(Date.now());
  return {
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
