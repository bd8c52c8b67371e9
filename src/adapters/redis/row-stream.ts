import { StreamFullError } from '../../errors.js';
import type { RedisClient } from './client.js';
import { callScript, ScriptError } from './scripts.js';
import { RedisKeys } from './keys.js';

/** One row bound for a ClickHouse table, travelling through the account's stream. */
export interface StreamRow {
  table: string;
  row: object;
  /** When set, a second row with the same id within the window is dropped (client retries). */
  dedupeId?: string;
}

export type AppendOutcome = 'accepted' | 'duplicate';

/** Retry-After (seconds) of a 503 answered because the stream is at its cap. */
export const STREAM_FULL_RETRY_AFTER_S = 2;

/** Seconds a client-supplied event id is remembered. */
export const DEDUPE_TTL_S = 600;

/** A `\udXXX` escape of a lone surrogate whose backslash is not itself escaped. */
const LONE_SURROGATE_ESCAPE = /(?<=(?:^|[^\\])(?:\\\\)*)\\ud[89a-f][0-9a-f]{2}/gi;

/**
 * The row as JSON that ClickHouse accepts. JSON.stringify writes a lone UTF-16 surrogate (valid
 * in a JS string, and so in a beacon that passed validation) as a `\udXXX` escape, which
 * ClickHouse refuses to parse; a single such row would fail its whole batch. It becomes U+FFFD,
 * as invalid UTF-8 would.
 */
export function rowJson(row: object): string {
  const json = JSON.stringify(row);
  return json.includes('\\ud') || json.includes('\\uD') ? json.replace(LONE_SURROGATE_ESCAPE, '\\ufffd') : json;
}

/**
 * The write side of the per-account stream. `append` resolves only once Redis has every row,
 * so a 204 means the rows are durable in Redis (and in its AOF within a second).
 */
export class RowStream {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly cap: number,
  ) {}

  async append(account: string, rows: readonly StreamRow[]): Promise<AppendOutcome[]> {
    if (rows.length === 0) return [];
    const keys = [this.keys.eventStream(account)];
    const args: (string | number)[] = [this.cap, DEDUPE_TTL_S];
    for (const r of rows) {
      keys.push(this.keys.eventIdSeen(account, r.dedupeId ?? '-'));
      args.push(r.dedupeId ? '1' : '0', r.table, rowJson(r.row));
    }
    const res = await callScript(this.redis, 'ingestEvents', keys, args, false);
    if (res === ScriptError.StreamFull) {
      const e = new StreamFullError('the event stream is at its cap, retry later');
      // Workers drain a full stream at tens of thousands of rows a second once ClickHouse is back.
      e.retryAfter = STREAM_FULL_RETRY_AFTER_S;
      throw e;
    }
    return (res as (string | number)[]).map((x) => (x === ScriptError.Duplicate ? 'duplicate' : 'accepted'));
  }

  length(account: string): Promise<number> {
    return this.redis.xlen(this.keys.eventStream(account));
  }
}
