import { setTimeout as sleep } from 'node:timers/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import { kv, type Logger } from '../../src/logger.js';
import type { Metrics } from '../../src/metrics.js';
import { isCluster, type RedisClient } from '../../src/adapters/redis/client.js';
import { FLUSH_GROUP, type RedisKeys } from '../../src/adapters/redis/keys.js';
import { TABLES } from '../../src/adapters/clickhouse/tables.js';
import { parseEntries, type StreamEntry } from './stream-entry.js';

export interface FlusherOptions {
  /** Flush when this many entries are buffered… */
  batchSize: number;
  /** …or when the oldest buffered entry is this old. */
  intervalMs: number;
  /** Pending entries idle this long belong to a dead consumer and are claimed. */
  reclaimIdleMs: number;
  /** Unique per process: pending entries are owned by it. */
  consumer: string;
  /**
   * Called after a batch is in ClickHouse and before it is acknowledged. The fault tests use it
   * to SIGKILL a real worker at exactly that point; nothing else should.
   */
  afterInsert?: (entries: readonly StreamEntry[]) => void;
}

/** A row about to be inserted; filters may drop it (erasure) before it reaches ClickHouse. */
export interface FlushRow {
  entry: StreamEntry;
  row: Record<string, unknown>;
}

/** Decides which rows of a batch are dropped (e.g. rows of an erased person still in the stream). */
export type RowFilter = (rows: FlushRow[]) => Promise<FlushRow[]>;

/** Tables a stream row may target; anything else is a bug or forgery and is logged and dropped. */
const WRITABLE = new Set<string>(Object.values(TABLES));

const MAX_BACKOFF_MS = 5_000;

/**
 * ClickHouse exception codes that say "these rows can never be inserted" (parse and type errors
 * of the data), as opposed to "not now" (network, timeouts, memory, too many parts): retrying
 * such a batch would block the stream forever behind one bad row.
 */
const DATA_ERROR_CODES = new Set([6, 25, 26, 27, 32, 38, 41, 53, 69, 70, 72, 117, 131, 321, 349, 376, 377, 469]);

/** Dead letters kept per account (approximate trim): enough to inspect, bounded in memory. */
const DEAD_LETTER_MAXLEN = 100_000;

/** The data-error code of a failed insert, or undefined when it may succeed later. */
export function dataErrorCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const n = Number(e?.code);
  const code = Number.isInteger(n) && n > 0 ? n : Number(/\bCode: (\d+)\./.exec(String(e?.message ?? ''))?.[1]);
  return DATA_ERROR_CODES.has(code) ? code : undefined;
}

/**
 * Moves rows from the account streams into ClickHouse: read through a consumer group, insert
 * per table, and XACK + XDEL only after the insert succeeded. Rows re-delivered from a dead
 * consumer are checked against ClickHouse by event id first, so a replay never double-counts.
 */
export class StreamFlusher {
  #running = false;
  #loop?: Promise<void>;
  #lastReclaim = 0;
  readonly #groupsReady = new Set<string>();
  readonly #filters: RowFilter[] = [];
  readonly #accountOf = new Map<string, string>();

  constructor(
    private readonly reader: RedisClient,
    private readonly redis: RedisClient,
    private readonly ch: ClickHouseClient,
    private readonly keys: RedisKeys,
    private readonly accountIds: () => string[],
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly opts: FlusherOptions,
  ) {}

  addFilter(f: RowFilter): void {
    this.#filters.push(f);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run().catch((err) => this.log.fatal({ err }, 'flush loop crashed'));
  }

  /** Stop reading; the batch in hand is finished (or left pending for another consumer). */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  get running(): boolean {
    return this.#running;
  }

  async #ensureGroup(stream: string): Promise<void> {
    if (this.#groupsReady.has(stream)) return;
    try {
      // From id 0, so events appended before the first worker ever ran are not skipped.
      await this.redis.xgroup('CREATE', stream, FLUSH_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
    this.#groupsReady.add(stream);
  }

  async #run(): Promise<void> {
    let buffer: StreamEntry[] = [];
    let oldest = 0;
    let backoff = 100;
    let prefetch: Promise<StreamEntry[]> | undefined;
    while (this.#running) {
      try {
        const streams = this.accountIds().map((a) => {
          const s = this.keys.eventStream(a);
          this.#accountOf.set(s, a);
          return s;
        });
        for (const s of streams) await this.#ensureGroup(s);
        if (Date.now() - this.#lastReclaim >= Math.min(this.opts.reclaimIdleMs, 5_000)) {
          this.#lastReclaim = Date.now();
          const claimed = await this.#reclaim(streams);
          if (claimed.length) {
            this.log.warn({ entries: claimed.length }, '[flush] reclaimed pending entries of a dead consumer');
            await this.#flush(claimed);
          }
        }
        const wait = buffer.length ? Math.max(1, this.opts.intervalMs - (Date.now() - oldest)) : this.opts.intervalMs;
        const early = prefetch;
        prefetch = undefined;
        const fresh = early ? await early : await this.#read(streams, Math.min(wait, 1000));
        if (fresh.length && !buffer.length) oldest = Date.now();
        buffer = buffer.concat(fresh);
        if (buffer.length && (buffer.length >= this.opts.batchSize || Date.now() - oldest >= this.opts.intervalMs || !this.#running)) {
          const batch = buffer;
          buffer = [];
          // A full batch means a backlog: read the next one while this one is inserted, so the
          // Redis round trip and parsing overlap ClickHouse's work (the claim heartbeat of
          // #flush keeps the prefetched entries this consumer's meanwhile).
          if (batch.length >= this.opts.batchSize && this.#running) {
            prefetch = this.#read(streams, 1);
            prefetch.catch(() => undefined);
          }
          await this.#flush(batch);
        }
        backoff = 100;
      } catch (err) {
        this.log.error({ err }, '[flush] loop error; retrying');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
    // A prefetched batch is written before stopping (or, if that fails, left pending like the
    // rest). Unflushed entries stay pending under this consumer and are reclaimed after its idle time.
    if (prefetch) {
      try {
        const rest = await prefetch;
        if (rest.length) await this.#flush(rest);
      } catch (err) {
        this.log.warn({ err }, '[flush] prefetched entries left pending at shutdown');
      }
    }
  }

  /**
   * While a batch is being written, every entry this consumer holds (the batch, and a prefetched
   * one) stays claimed: each third of the reclaim idle time their idle clock is reset. A live
   * worker whose insert is merely slow is then never robbed by another worker's XAUTOCLAIM,
   * which would insert the same rows a second time; a dead worker stops refreshing and is
   * reclaimed as before.
   */
  #keepClaimed(): { stop(): void } {
    const every = Math.max(50, Math.floor(this.opts.reclaimIdleMs / 3));
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      this.#refreshClaims(every)
        .catch((err: unknown) => this.log.warn({ err }, '[flush] could not refresh the claim on pending entries'))
        .finally(() => (busy = false));
    }, every);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }

  async #refreshClaims(minIdle: number): Promise<void> {
    for (const stream of this.#accountOf.keys()) {
      const mine = (await this.redis.call('XPENDING', stream, FLUSH_GROUP, 'IDLE', minIdle, '-', '+', this.opts.batchSize * 3, this.opts.consumer)) as [string, string, number, number][];
      for (let i = 0; i < mine.length; i += 5000) {
        // min-idle again: an entry another worker took meanwhile has a fresh idle time and stays theirs.
        await this.redis.call('XCLAIM', stream, FLUSH_GROUP, this.opts.consumer, minIdle, ...mine.slice(i, i + 5000).map((e) => e[0]), 'JUSTID');
      }
    }
  }

  async #read(streams: string[], blockMs: number): Promise<StreamEntry[]> {
    if (streams.length === 0) {
      await sleep(blockMs);
      return [];
    }
    const count = this.opts.batchSize;
    if (isCluster(this.reader)) {
      // Streams of different accounts live in different slots: one non-blocking read each.
      const out: StreamEntry[] = [];
      for (const s of streams) {
        const res = (await this.reader.xreadgroup('GROUP', FLUSH_GROUP, this.opts.consumer, 'COUNT', count, 'STREAMS', s, '>')) as [string, [string, string[]][]][] | null;
        for (const [stream, entries] of res ?? []) out.push(...parseEntries(stream, entries, false));
      }
      if (!out.length) await sleep(Math.min(blockMs, 50));
      return out;
    }
    const res = (await this.reader.xreadgroup(
      'GROUP', FLUSH_GROUP, this.opts.consumer,
      'COUNT', count,
      'BLOCK', blockMs,
      'STREAMS', ...streams, ...streams.map(() => '>'),
    )) as [string, [string, string[]][]][] | null;
    const out: StreamEntry[] = [];
    for (const [stream, entries] of res ?? []) out.push(...parseEntries(stream, entries, false));
    return out;
  }

  async #reclaim(streams: string[]): Promise<StreamEntry[]> {
    const out: StreamEntry[] = [];
    for (const s of streams) {
      let cursor = '0-0';
      do {
        const [next, entries] = (await this.redis.xautoclaim(s, FLUSH_GROUP, this.opts.consumer, this.opts.reclaimIdleMs, cursor, 'COUNT', this.opts.batchSize)) as [
          string,
          ([string, string[]] | null)[],
        ];
        out.push(...parseEntries(s, entries, true));
        cursor = next;
      } while (cursor !== '0-0' && out.length < this.opts.batchSize * 10);
    }
    return out;
  }

  /** Event ids of this batch that ClickHouse already has (only asked for re-delivered rows). */
  async #alreadyStored(rows: FlushRow[]): Promise<Set<string>> {
    return this.#storedEventIds(rows.filter((r) => r.entry.redelivered && r.entry.table === TABLES.events).map((r) => String(r.row.event_id)));
  }

  async #storedEventIds(ids: string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const rs = await this.ch.query({
      query: `SELECT toString(event_id) AS id FROM ${TABLES.events} WHERE event_id IN {ids:Array(UUID)}`,
      query_params: { ids },
      format: 'JSONEachRow',
    });
    return new Set((await rs.json<{ id: string }>()).map((r) => r.id));
  }

  async #flush(batch: StreamEntry[]): Promise<void> {
    const keep = this.#keepClaimed();
    try {
      await this.#flushClaimed(batch);
    } finally {
      keep.stop();
    }
  }

  async #flushClaimed(batch: StreamEntry[]): Promise<void> {
    const started = performance.now();
    let rows: FlushRow[] = [];
    for (const entry of batch) {
      if (!WRITABLE.has(entry.table)) {
        this.log.error({ table: entry.table, id: entry.id }, '[flush] dropping row for unknown table');
        continue;
      }
      try {
        rows.push({ entry, row: JSON.parse(entry.json) as Record<string, unknown> });
      } catch {
        this.log.error({ id: entry.id }, '[flush] dropping unparsable row');
      }
    }
    for (const f of this.#filters) rows = await f(rows);
    const byTable = new Map<string, FlushRow[]>();
    let backoff = 100;
    for (;;) {
      try {
        const stored = await this.#alreadyStored(rows);
        if (stored.size) this.log.warn({ rows: stored.size }, '[flush] skipped re-delivered rows already in ClickHouse');
        byTable.clear();
        for (const r of rows) {
          if (r.entry.table === TABLES.events && stored.has(String(r.row.event_id))) continue;
          let list = byTable.get(r.entry.table);
          if (!list) byTable.set(r.entry.table, (list = []));
          list.push(r);
        }
        break;
      } catch (err) {
        if (!this.#running) return;
        this.log.warn({ err }, '[flush] ClickHouse unavailable for the replay check; retrying');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
    // Tables already written in this batch are not written again when a later one fails.
    for (const [table, all] of byTable) {
      let values = all;
      // A failed insert may still have been applied (answer lost, timeout, connection reset
      // after the server committed, or only some partitions written): before each retry of
      // `events` ask which rows are in and insert only the rest. Other tables are
      // ReplacingMergeTree keyed by their identity, where a repeated row collapses anyway.
      let uncertain = false;
      backoff = 100;
      for (;;) {
        try {
          if (uncertain && table === TABLES.events) {
            const stored = await this.#storedEventIds(values.map((v) => String(v.row.event_id)));
            if (stored.size) {
              values = values.filter((v) => !stored.has(String(v.row.event_id)));
              this.log.warn({ table, rows: stored.size }, '[flush] rows of the failed insert are in ClickHouse; inserting only the rest');
            }
          }
          const refused = await this.#insertIsolating(table, values);
          if (refused.length) await this.#deadLetter(table, refused);
          this.metrics.inc('visitor_flush_rows_total', { table }, values.length - refused.length);
          break;
        } catch (err) {
          uncertain = true;
          this.metrics.inc('visitor_flush_failures_total', { table });
          this.log.warn({ err, table, rows: values.length }, '[flush] insert failed; the batch stays pending and is retried');
          // On shutdown give up: entries stay pending and are reclaimed, never acknowledged unwritten.
          if (!this.#running) return;
          await sleep(backoff);
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        }
      }
    }
    this.opts.afterInsert?.(batch);
    await this.#ack(batch);
    const ms = Math.round(performance.now() - started);
    this.metrics.inc('visitor_flush_batches_total');
    this.log.info({ rows: batch.length, ms, outcome: 'ok', tables: Object.fromEntries([...byTable].map(([t, v]) => [t, v.length])) }, `[flush] rows=${batch.length} ms=${ms} outcome=ok`);
  }

  /**
   * Insert the rows; when ClickHouse refuses them as data, halve and retry each half, so the
   * good rows go in and the refused ones come back (one insert per level: log2(batch) rounds
   * for one bad row). Any other failure is thrown for the caller's retry.
   */
  async #insertIsolating(table: string, rows: FlushRow[]): Promise<{ row: FlushRow; err: unknown }[]> {
    if (!rows.length) return [];
    try {
      await this.ch.insert({ table, values: rows.map((r) => r.row), format: 'JSONEachRow' });
      return [];
    } catch (err) {
      if (dataErrorCode(err) === undefined) throw err;
      if (rows.length === 1) return [{ row: rows[0]!, err }];
      const mid = rows.length >> 1;
      const left = await this.#insertIsolating(table, rows.slice(0, mid));
      return left.concat(await this.#insertIsolating(table, rows.slice(mid)));
    }
  }

  /** Move refused rows to their account's dead-letter stream (then they are acknowledged with the batch). */
  async #deadLetter(table: string, refused: { row: FlushRow; err: unknown }[]): Promise<void> {
    for (const { row, err } of refused) {
      const account = this.#accountOf.get(row.entry.stream) ?? 'unknown';
      const code = dataErrorCode(err);
      const key = this.keys.deadLetters(account);
      const reason = String((err as Error).message ?? err).slice(0, 500);
      await this.redis.xadd(key, 'MAXLEN', '~', DEAD_LETTER_MAXLEN, '*', 't', table, 'r', row.entry.json, 'id', row.entry.id, 'code', String(code), 'err', reason);
      this.metrics.inc('visitor_flush_dead_letters_total', { table });
      this.log.error({ account, table, id: row.entry.id, code, err }, `[flush-dead-letter] ${kv({ account, table, id: row.entry.id, code, key })} ClickHouse refused the row`);
    }
  }

  async #ack(batch: StreamEntry[]): Promise<void> {
    const byStream = new Map<string, string[]>();
    for (const e of batch) {
      let ids = byStream.get(e.stream);
      if (!ids) byStream.set(e.stream, (ids = []));
      ids.push(e.id);
    }
    for (const [stream, ids] of byStream) {
      // XDEL after XACK keeps the stream as long as the backlog only; chunks bound argument size.
      for (let i = 0; i < ids.length; i += 5000) {
        const chunk = ids.slice(i, i + 5000);
        await this.redis.xack(stream, FLUSH_GROUP, ...chunk);
        await this.redis.xdel(stream, ...chunk);
      }
    }
  }
}
