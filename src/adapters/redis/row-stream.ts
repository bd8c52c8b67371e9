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

/** Seconds a client-supplied event id is remembered. */
export const DEDUPE_TTL_S = 600;

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
      args.push(r.dedupeId ? '1' : '0', r.table, JSON.stringify(r.row));
    }
    const res = await callScript(this.redis, 'ingestEvents', keys, args, false);
    if (res === ScriptError.StreamFull) throw new StreamFullError('the event stream is at its cap');
    return (res as (string | number)[]).map((x) => (x === ScriptError.Duplicate ? 'duplicate' : 'accepted'));
  }

  length(account: string): Promise<number> {
    return this.redis.xlen(this.keys.eventStream(account));
  }
}
