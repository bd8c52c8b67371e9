import { createHash } from 'node:crypto';
import { firstArg, UsageError, type CliCommand } from '../command.js';
import { readJsonItems } from '../analytics.format.js';

/** The gateway takes at most 20 events per request. */
const BATCH = 20;

/** JSON with object keys sorted at every level, so a reformatted file hashes the same. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * The id of an event the file gives none: a UUID (version 8, RFC 9562 custom) from a hash of its
 * content and its place in the file (the n-th event), so running the same file again sends the
 * same ids and the gateway stores each event once; two equal events on different lines stay two.
 */
export function derivedEventId(event: unknown, index: number): string {
  const h = createHash('sha256')
    .update(`event-ingest\u0000${index}\u0000${canonicalJson(event)}`)
    .digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function withEventId(event: unknown, index: number): unknown {
  if (!event || typeof event !== 'object' || Array.isArray(event) || 'eventId' in event) return event;
  return { ...event, eventId: derivedEventId(event, index) };
}

export const eventIngestCommand: CliCommand = {
  name: 'event-ingest',
  summary: 'send events server-side (JSON file or stdin) with the admin key',
  usage:
    'usage: visitor event-ingest <file.json | -> [--fresh-ids] [--json]\n\nThe file holds one event, an array, { "events": [ … ] }, or one event per line; the account\n' +
    'comes from the key. Sent in batches of 20 to POST /api/events. An event without an eventId gets\n' +
    'one derived from its content and its place in the file, so sending the same file again stores\n' +
    'nothing twice (the gateway drops repeated ids for 10 minutes); --fresh-ids sends new random ids instead.',
  async run(args, api, io) {
    const file = firstArg(args, 'a file of events (or - for stdin)');
    const items = readJsonItems(io.resolvePath(file), 'events');
    if (!items.length) throw new UsageError(`${file} holds no events`);
    // --fresh-ids: leave ids to the gateway (random), for a file of "now" events sent on purpose again.
    const events = args.flags['fresh-ids'] ? items : items.map(withEventId);
    let accepted = 0;
    let duplicates = 0;
    let requests = 0;
    for (let i = 0; i < events.length; i += BATCH) {
      const out = await api.post<{ accepted: number; duplicates: number }>('/api/events', { events: events.slice(i, i + BATCH) });
      accepted += out.accepted;
      duplicates += out.duplicates;
      requests++;
    }
    const json = { sent: events.length, accepted, duplicates, requests };
    return { json, table: { columns: ['sent', 'accepted', 'duplicates', 'requests'], rows: [[events.length, accepted, duplicates, requests]] } };
  },
};
