import type { Account } from '../domain/account.js';
import { TABLES } from '../adapters/clickhouse/tables.js';
import { rowJson, type StreamRow } from '../adapters/redis/row-stream.js';
import { clampTs, normalizeEvent, requestParts, type IngestContext } from '../domain/event.normalize.js';
import type { BeaconEvent } from '../domain/event.schema.js';
import { hasPresence, presenceArg, toPresenceEvent } from '../domain/presence.rules.js';
import type { StoredEvent } from '../domain/stored-event.js';

/**
 * Step 3, normalise: validated events + the request's attribution → the rows to store. What is
 * the same for every event of the request (receive time, user agent, country) is worked out
 * once. Each row is serialised here, once: the stream carries that JSON, presence gets plain
 * fields of the same event, and the log line reads the same object.
 *
 * `presenceFrom`: events that say they happened before this time carry no presence (they are
 * stored, but nobody is put online by them); `-Infinity` for every event, `Infinity` for none.
 */
export function normalise(
  account: Account,
  events: readonly BeaconEvent[],
  ctx: IngestContext,
  presenceFrom: number,
): { stored: StoredEvent[]; rows: StreamRow[] } {
  const parts = requestParts(ctx);
  const stored: StoredEvent[] = new Array(events.length);
  const rows: StreamRow[] = new Array(events.length);
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const s = normalizeEvent(e, account.id, ctx, parts);
    stored[i] = s;
    rows[i] = {
      table: TABLES.events,
      row: s,
      json: rowJson(s),
      dedupeId: e.eventId,
      presence:
        (e.ts ?? ctx.receivedAt) >= presenceFrom && hasPresence(s)
          ? presenceArg(toPresenceEvent(s, account.pageSegments, clampTs(e.ts, ctx.receivedAt)))
          : undefined,
    };
  }
  return { stored, rows };
}
