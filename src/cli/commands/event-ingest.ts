import { UsageError, type CliCommand } from '../command.js';
import { readJsonItems } from '../analytics.format.js';

/** The gateway takes at most 20 events per request. */
const BATCH = 20;

export const eventIngestCommand: CliCommand = {
  name: 'event-ingest',
  summary: 'send events server-side (JSON file or stdin) with the admin key',
  usage:
    'usage: visitor event-ingest <file.json | -> [--json]\n\nThe file holds one event, an array, { "events": [ … ] }, or one event per line; the account\n' +
    'comes from the key. Sent in batches of 20 to POST /api/events.',
  async run(args, api) {
    const file = args.positional[0];
    if (!file) throw new UsageError('a file of events (or - for stdin) is required');
    const events = readJsonItems(file, 'events');
    if (!events.length) throw new UsageError(`${file} holds no events`);
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
