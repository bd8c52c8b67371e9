import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import { kv, type Logger } from '../../src/logger.js';
import type { Metrics } from '../../src/metrics.js';
import { isCluster, type RedisClient } from '../../src/adapters/redis/client.js';
import { FLUSH_GROUP, type RedisKeys } from '../../src/adapters/redis/keys.js';
import { TABLES } from '../../src/adapters/clickhouse/tables.js';
import { insertJsonLines } from '../../src/adapters/clickhouse/client.js';
import { FlushRow, parseEntries, type RowFilter, type StreamEntry } from '../../src/adapters/redis/stream-entry.js';

export interface FlusherOptions {
  /** Flush when this many entries are buffered… */
  batchSize: number;
  /** …or when the oldest buffered entry is this old. */
  intervalMs: number;
  /** Pending entries idle this long belong to a dead consumer and are claimed. */
  reclaimIdleMs: number;
  /**
   * Batches in ClickHouse at once (FLUSH_IN_FLIGHT). One insert into `events` fills its views on
   * about one core and leaves the flusher waiting; further batches inserted meanwhile use the
   * other cores, and the next batch is read and filtered while they are written. Each batch is
   * acknowledged after its own insert, so nothing about the guarantees changes.
   */
  inFlight: number;
  /** Unique per process: pending entries are owned by it. */
  consumer: string;
  /**
   * Called after a batch is in ClickHouse and before it is acknowledged. The fault tests use it
   * to SIGKILL a real worker at exactly that point; nothing else should.
   */
  afterInsert?: (entries: readonly StreamEntry[]) => void;
}

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

/**
 * One insert carries at most this many bytes of rows: a reclaim may hand over several batches
 * at once, and the body is held in memory whole (here, and again by the store).
 */
const MAX_INSERT_BYTES = 64 * 2 ** 20;

/** Entry ids per XACK/XDEL script call: a call's arguments are spread, which is bounded too. */
const ACK_CHUNK = 10_000;

/** Long loops over a batch give the event loop a turn this often (the gateway may share the process). */
const YIELD_EVERY = 10_000;

/**
 * Settings of each insert (a server gets them with the request; the store and the embedded
 * engine apply them too, see chdb-insert.ts). The materialised views on `events` are
 * independent, so they fill in parallel.
 */
const INSERT_SETTINGS = { parallel_view_processing: 1 } as const;

/**
 * Into `events`, also no merge at insert (optimize_on_insert = 0). Every view on `events`
 * groups by exactly its target's sorting key, so the rows it writes are already one per key and
 * the insert-time merge of each target part collapses nothing; it cost ~3 µs a row, a fifth of
 * the whole insert (measured in chdb, 50,000 rows, five views). The tables written directly
 * (identity_edges, recommendations: ReplacingMergeTree) keep the merge.
 */
const EVENTS_INSERT_SETTINGS = { ...INSERT_SETTINGS, optimize_on_insert: 0 } as const;

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
  ) {
    metrics
      .describe('visitor_flush_rows_total', 'counter', 'Rows inserted into ClickHouse by the flusher')
      .describe('visitor_flush_failures_total', 'counter', 'Failed ClickHouse inserts (retried)')
      .describe('visitor_flush_batches_total', 'counter', 'Flushed batches')
      .describe('visitor_flush_dead_letters_total', 'counter', 'Rows ClickHouse refused as data, moved to the account dead-letter stream');
  }

  /**
   * Ids of the entries this consumer holds in memory (buffered, reclaimed, being
   * written), by stream: only these have their claim refreshed. An entry Redis delivered to this
   * consumer whose reply never arrived (a connection lost mid-read) is not held, goes idle and is
   * reclaimed like a dead consumer's.
   */
  readonly #held = new Map<string, Set<string>>();

  #hold(entries: readonly StreamEntry[]): void {
    for (const e of entries) {
      let ids = this.#held.get(e.stream);
      if (!ids) this.#held.set(e.stream, (ids = new Set()));
      ids.add(e.id);
    }
  }

  #release(entries: readonly StreamEntry[]): void {
    for (const e of entries) this.#held.get(e.stream)?.delete(e.id);
  }

  addFilter(f: RowFilter): void {
    this.#filters.push(f);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    const keeper = this.#keepClaimed();
    this.#loop = this.#run()
      .catch((err) => this.log.fatal({ err }, 'flush loop crashed'))
      .finally(() => keeper.stop());
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
    const inFlight = new Set<Promise<void>>();
    let failed: unknown;
    while (this.#running) {
      try {
        // A batch that failed in flight (say its ack, Redis being down) backs the loop off as
        // any other error; its entries stay pending and are reclaimed.
        if (failed !== undefined) {
          const err = failed;
          failed = undefined;
          throw err;
        }
        const streams = this.accountIds().map((a) => {
          const s = this.keys.eventStream(a);
          this.#accountOf.set(s, a);
          return s;
        });
        for (const s of streams) await this.#ensureGroup(s);
        if (Date.now() - this.#lastReclaim >= Math.min(this.opts.reclaimIdleMs, 5_000)) {
          this.#lastReclaim = Date.now();
          // Entries this consumer holds in memory (buffered or in flight) are its own to flush: never twice.
          const claimed = (await this.#reclaim(streams)).filter((e) => !this.#held.get(e.stream)?.has(e.id));
          if (claimed.length) {
            this.log.warn({ entries: claimed.length }, '[flush] reclaimed pending entries of a dead consumer');
            this.#hold(claimed);
            try {
              await this.#flush(claimed);
            } finally {
              this.#release(claimed);
            }
          }
        }
        const wait = buffer.length ? Math.max(1, this.opts.intervalMs - (Date.now() - oldest)) : this.opts.intervalMs;
        // A backlog is read while batches are in flight (a read answers at once when entries wait).
        const fresh = buffer.length >= this.opts.batchSize ? [] : await this.#read(streams, Math.min(wait, 1000));
        this.#hold(fresh);
        if (fresh.length && !buffer.length) oldest = Date.now();
        buffer = buffer.concat(fresh);
        if (buffer.length && (buffer.length >= this.opts.batchSize || Date.now() - oldest >= this.opts.intervalMs || !this.#running)) {
          const batch = buffer;
          buffer = [];
          const job: Promise<void> = this.#flush(batch)
            .catch((err: unknown) => {
              failed ??= err;
            })
            .finally(() => {
              // Written and acknowledged, or dropped from memory by an error: pending, it is reclaimed.
              this.#release(batch);
              inFlight.delete(job);
            });
          inFlight.add(job);
        }
        if (inFlight.size >= this.opts.inFlight) await Promise.race(inFlight);
        backoff = 100;
      } catch (err) {
        this.log.error({ err }, '[flush] loop error; retrying');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
    // Batches in flight are finished (or, stopped before their ack, left pending for reclaim).
    // Unflushed entries stay pending under this consumer and are reclaimed after its idle time.
    await Promise.all(inFlight);
  }

  /**
   * While the flusher runs, every entry it holds (buffered, being written, reclaimed)
   * stays claimed: each third of the reclaim idle time the idle clock of its entries idle that
   * long is reset. A live worker whose read or insert is merely slow is then never robbed by an
   * XAUTOCLAIM, its own or another worker's, which would insert the same rows a second time; a
   * dead worker stops refreshing and is reclaimed as before, and so is an entry Redis delivered
   * here whose reply was lost (see `#held`).
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
    const chunk = 5000;
    for (const [stream, held] of this.#held) {
      const ids = [...held];
      for (let i = 0; i < ids.length; i += chunk) {
        // min-idle again: an entry another worker took meanwhile has a fresh idle time and stays
        // theirs; an id no longer pending (acknowledged meanwhile) is skipped by Redis.
        await this.redis.call('XCLAIM', stream, FLUSH_GROUP, this.opts.consumer, minIdle, ...ids.slice(i, i + chunk), 'JUSTID');
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
        const res = (await this.reader.xreadgroupBuffer('GROUP', FLUSH_GROUP, this.opts.consumer, 'COUNT', count, 'STREAMS', s, '>')) as StreamReply;
        for (const [stream, entries] of res ?? []) parseEntries(String(stream), entries, false, out);
      }
      if (!out.length) await sleep(Math.min(blockMs, 50));
      return out;
    }
    // Buffer replies: the rows stay the bytes Redis holds (see StreamEntry).
    const res = (await this.reader.xreadgroupBuffer(
      'GROUP',
      FLUSH_GROUP,
      this.opts.consumer,
      'COUNT',
      count,
      'BLOCK',
      blockMs,
      'STREAMS',
      ...streams,
      ...streams.map(() => '>'),
    )) as StreamReply;
    const out: StreamEntry[] = [];
    for (const [stream, entries] of res ?? []) parseEntries(String(stream), entries, false, out);
    return out;
  }

  async #reclaim(streams: string[]): Promise<StreamEntry[]> {
    const out: StreamEntry[] = [];
    for (const s of streams) {
      let cursor = '0-0';
      do {
        const [next, entries] = (await (this.redis as unknown as BufferClaim).xautoclaimBuffer(
          s,
          FLUSH_GROUP,
          this.opts.consumer,
          this.opts.reclaimIdleMs,
          cursor,
          'COUNT',
          this.opts.batchSize,
        )) as [Buffer, ([Buffer, Buffer[]] | null)[]];
        parseEntries(s, entries, true, out);
        cursor = String(next);
      } while (cursor !== '0-0' && out.length < this.opts.batchSize * 10);
    }
    return out;
  }

  /** Event ids of this batch that ClickHouse already has (only asked for re-delivered rows). */
  async #alreadyStored(rows: FlushRow[]): Promise<Set<string>> {
    return this.#storedEventIds(rows.filter((r) => r.entry.redelivered && r.entry.table === TABLES.events));
  }

  /**
   * Which of these `events` rows ClickHouse holds. One query per account over the rows' span of
   * `received_at` (the ids then compared here), not a list of ids as a query parameter: that
   * travels in the URL, and a batch of ids is megabytes. A row whose time cannot be read is
   * asked for by id, in URL-sized chunks.
   */
  async #storedEventIds(rows: FlushRow[]): Promise<Set<string>> {
    const stored = new Set<string>();
    if (!rows.length) return stored;
    const spans = new Map<string, { from: number; to: number }>();
    const byId: string[] = [];
    for (const r of rows) {
      const account = r.field('account_id');
      const at = chTimeMs(r.field('received_at'));
      if (account === undefined || at === undefined) {
        byId.push(r.field('event_id') ?? '');
        continue;
      }
      const span = spans.get(account);
      if (!span) spans.set(account, { from: at, to: at });
      else {
        if (at < span.from) span.from = at;
        if (at > span.to) span.to = at;
      }
    }
    for (const [account, { from, to }] of spans) {
      const rs = await this.ch.query({
        query: `SELECT toString(event_id) AS id FROM ${TABLES.events}
                WHERE account_id = {account:String}
                  AND received_at BETWEEN fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND fromUnixTimestamp64Milli({to:Int64}, 'UTC')`,
        query_params: { account, from, to },
        format: 'JSONEachRow',
      });
      for (const { id } of await rs.json<{ id: string }>()) stored.add(id);
    }
    const ids = byId.filter((id) => UUID.test(id));
    for (let i = 0; i < ids.length; i += 300) {
      const rs = await this.ch.query({
        query: `SELECT toString(event_id) AS id FROM ${TABLES.events} WHERE event_id IN {ids:Array(UUID)}`,
        query_params: { ids: ids.slice(i, i + 300) },
        format: 'JSONEachRow',
      });
      for (const { id } of await rs.json<{ id: string }>()) stored.add(id);
    }
    return stored;
  }

  async #flush(batch: StreamEntry[]): Promise<void> {
    const started = performance.now();
    let rows: FlushRow[] = [];
    for (let i = 0; i < batch.length; i++) {
      if (i && i % YIELD_EVERY === 0) await yieldToLoop();
      const entry = batch[i]!;
      if (!WRITABLE.has(entry.table)) {
        this.log.error({ table: entry.table, id: entry.id }, '[flush] dropping row for unknown table');
        continue;
      }
      // The row goes to ClickHouse as its bytes, one line of the body: it must be one object on
      // one line. JSON.stringify never writes a raw newline; anything else is parsed here and
      // written back in that form, or dropped when it is no object at all. Data ClickHouse
      // refuses inside a well-formed line is isolated and dead-lettered below.
      if (entry.row[0] !== 0x7b || entry.row.includes(0x0a)) {
        const parsed = new FlushRow(entry, '').parsed();
        if (!parsed) {
          this.log.error({ id: entry.id }, '[flush] dropping unparsable row');
          continue;
        }
        entry.row = Buffer.from(JSON.stringify(parsed));
      }
      // Every stream read is an account's (see #run); the row's own field is only a fallback.
      const account = this.#accountOf.get(entry.stream) ?? new FlushRow(entry, '').field('account_id') ?? '';
      rows.push(new FlushRow(entry, account));
    }
    for (const f of this.#filters) rows = await f(rows);
    const byTable = new Map<string, FlushRow[]>();
    let backoff = 100;
    for (;;) {
      try {
        const stored = await this.#alreadyStored(rows);
        if (stored.size) this.log.warn({ rows: stored.size }, '[flush] skipped re-delivered rows already in ClickHouse');
        byTable.clear();
        for (let i = 0; i < rows.length; i++) {
          if (i && i % YIELD_EVERY === 0) await yieldToLoop();
          const r = rows[i]!;
          if (stored.size && r.entry.table === TABLES.events && stored.has(r.field('event_id') ?? '')) continue;
          let list = byTable.get(r.entry.table);
          if (!list) byTable.set(r.entry.table, (list = []));
          list.push(r);
        }
        break;
      } catch (err) {
        if (!this.#running) return this.#report(batch.length, started, 'pending');
        this.log.warn({ err }, '[flush] ClickHouse unavailable for the replay check; retrying');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
    let deadLetters = 0;
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
            const stored = await this.#storedEventIds(values);
            if (stored.size) {
              values = values.filter((v) => !stored.has(v.field('event_id') ?? ''));
              this.log.warn({ table, rows: stored.size }, '[flush] rows of the failed insert are in ClickHouse; inserting only the rest');
            }
          }
          let refused: Refused[] = [];
          for (const chunk of byteChunks(values)) refused = refused.concat(await this.#insertIsolating(table, chunk));
          if (refused.length) await this.#deadLetter(table, refused);
          deadLetters += refused.length;
          this.metrics.inc('visitor_flush_rows_total', { table }, values.length - refused.length);
          break;
        } catch (err) {
          uncertain = true;
          this.metrics.inc('visitor_flush_failures_total', { table });
          this.log.warn({ err, table, rows: values.length }, '[flush] insert failed; the batch stays pending and is retried');
          // On shutdown give up: entries stay pending and are reclaimed, never acknowledged unwritten.
          if (!this.#running) return this.#report(batch.length, started, 'pending');
          await sleep(backoff);
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        }
      }
    }
    this.opts.afterInsert?.(batch);
    await this.#ack(batch);
    this.metrics.inc('visitor_flush_batches_total');
    this.#report(batch.length, started, 'ok', Object.fromEntries([...byTable].map(([t, v]) => [t, v.length])), deadLetters);
  }

  /** The flush's line: rows, milliseconds and outcome (`ok`, or `pending` when stopped before its ack). */
  #report(rows: number, started: number, outcome: 'ok' | 'pending', tables?: Record<string, number>, deadLetters = 0): void {
    const ms = Math.round(performance.now() - started);
    const fields = { rows, ms, outcome, tables, deadLetters };
    if (outcome === 'ok') this.log.info(fields, `[flush] rows=${rows} ms=${ms} outcome=ok`);
    else this.log.warn(fields, `[flush] rows=${rows} ms=${ms} outcome=${outcome}`);
  }

  /**
   * Insert the rows; when ClickHouse refuses them as data, halve and retry each half, so the
   * good rows go in and the refused ones come back (one insert per level: log2(batch) rounds
   * for one bad row). Any other failure is thrown for the caller's retry.
   */
  async #insertIsolating(table: string, rows: FlushRow[]): Promise<Refused[]> {
    if (!rows.length) return [];
    try {
      await insertJsonLines(this.ch, table, joinRows(rows), table === TABLES.events ? EVENTS_INSERT_SETTINGS : INSERT_SETTINGS);
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
  async #deadLetter(table: string, refused: Refused[]): Promise<void> {
    for (const { row, err } of refused) {
      const account = this.#accountOf.get(row.entry.stream) ?? 'unknown';
      const code = dataErrorCode(err);
      const key = this.keys.deadLetters(account);
      const reason = String((err as Error).message ?? err).slice(0, 500);
      await this.redis.xadd(
        key,
        'MAXLEN',
        '~',
        DEAD_LETTER_MAXLEN,
        '*',
        't',
        table,
        'r',
        row.entry.row,
        'id',
        row.entry.id,
        'code',
        String(code),
        'err',
        reason,
      );
      this.metrics.inc('visitor_flush_dead_letters_total', { table });
      this.log.error(
        { account, table, id: row.entry.id, code, err },
        `[flush-dead-letter] ${kv({ account, table, id: row.entry.id, code, key })} ClickHouse refused the row`,
      );
    }
  }

  /**
   * XACK + XDEL of the batch in one round trip: one script call per stream and chunk
   * (redis/stream-ack-1.lua), pipelined. In a cluster the streams of different accounts are in
   * different slots, so each stream gets its own pipeline.
   */
  async #ack(batch: StreamEntry[]): Promise<void> {
    const byStream = new Map<string, string[]>();
    for (const e of batch) {
      let ids = byStream.get(e.stream);
      if (!ids) byStream.set(e.stream, (ids = []));
      ids.push(e.id);
    }
    const streams = [...byStream];
    const groups = isCluster(this.redis) ? streams.map((s) => [s]) : [streams];
    for (const group of groups) {
      const pipe = this.redis.pipeline() as unknown as ScriptPipeline;
      for (const [stream, ids] of group) {
        for (let i = 0; i < ids.length; i += ACK_CHUNK) pipe.streamAck(stream, FLUSH_GROUP, ...ids.slice(i, i + ACK_CHUNK));
      }
      for (const [err] of (await pipe.exec()) ?? []) if (err) throw err;
    }
  }
}

/**
 * XAUTOCLAIM with Buffer replies: every ioredis client has it at run time, its types do not.
 * (Not `callBuffer`: under auto-pipelining it loses its command name, ioredis 6.0.)
 */
interface BufferClaim {
  xautoclaimBuffer(...args: (string | number)[]): Promise<unknown>;
}

/** An XREADGROUP reply read as Buffers. */
type StreamReply = [stream: Buffer, entries: [id: Buffer, fields: Buffer[]][]][] | null;

/** A row ClickHouse refused as data, with its error. */
interface Refused {
  row: FlushRow;
  err: unknown;
}

/** The script command of redis/stream-ack-1.lua on a pipeline (defined by defineScripts). */
interface ScriptPipeline {
  streamAck(stream: string, group: string, ...ids: string[]): ScriptPipeline;
  exec(): Promise<[Error | null, unknown][] | null>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `YYYY-MM-DD hh:mm:ss[.sss]` UTC (the stored-row form, see chTime) → epoch ms. */
function chTimeMs(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const ms = Date.parse(`${text.replace(' ', 'T')}Z`);
  return Number.isFinite(ms) ? ms : undefined;
}

/** The JSONEachRow body of rows: their stored bytes, a line each, copied once into one buffer. */
function joinRows(rows: readonly FlushRow[]): Buffer {
  let size = 0;
  for (const r of rows) size += r.entry.row.length + 1;
  const body = Buffer.allocUnsafe(size);
  let at = 0;
  for (const r of rows) {
    at += r.entry.row.copy(body, at);
    body[at++] = 0x0a;
  }
  return body;
}

/** Rows in runs of at most MAX_INSERT_BYTES. */
function* byteChunks(rows: FlushRow[]): Generator<FlushRow[]> {
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < rows.length; i++) {
    bytes += rows[i]!.entry.row.length + 1;
    if (bytes > MAX_INSERT_BYTES && i > start) {
      yield rows.slice(start, i);
      start = i;
      bytes = rows[i]!.entry.row.length + 1;
    }
  }
  if (start < rows.length) yield start === 0 ? rows : rows.slice(start);
}
