import { setTimeout as sleep } from 'node:timers/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Logger } from '../../src/logger.js';
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
    while (this.#running) {
      try {
        const streams = this.accountIds().map((a) => this.keys.eventStream(a));
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
        const fresh = await this.#read(streams, Math.min(wait, 1000));
        if (fresh.length && !buffer.length) oldest = Date.now();
        buffer = buffer.concat(fresh);
        if (buffer.length && (buffer.length >= this.opts.batchSize || Date.now() - oldest >= this.opts.intervalMs || !this.#running)) {
          const batch = buffer;
          buffer = [];
          await this.#flush(batch);
        }
        backoff = 100;
      } catch (err) {
        this.log.error({ err }, '[flush] loop error; retrying');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
    // Unflushed entries stay pending under this consumer and are reclaimed after its idle time.
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
    const ids = rows.filter((r) => r.entry.redelivered && r.entry.table === TABLES.events).map((r) => String(r.row.event_id));
    if (!ids.length) return new Set();
    const rs = await this.ch.query({
      query: `SELECT toString(event_id) AS id FROM ${TABLES.events} WHERE event_id IN {ids:Array(UUID)}`,
      query_params: { ids },
      format: 'JSONEachRow',
    });
    return new Set((await rs.json<{ id: string }>()).map((r) => r.id));
  }

  async #flush(batch: StreamEntry[]): Promise<void> {
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
    const byTable = new Map<string, Record<string, unknown>[]>();
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
          list.push(r.row);
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
    for (const [table, values] of byTable) {
      backoff = 100;
      for (;;) {
        try {
          await this.ch.insert({ table, values, format: 'JSONEachRow' });
          this.metrics.inc('visitor_flush_rows_total', { table }, values.length);
          break;
        } catch (err) {
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
