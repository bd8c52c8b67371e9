import { CommitQueueFullError, StreamAtCapError } from '../errors.js';
import type { RedisClient } from './client.js';
import { callScript } from './scripts.js';
import { RedisKeys } from './keys.js';
import { PRESENCE_LINGER_MS } from './presence.store.js';

/** One row bound for a ClickHouse table, travelling through the account's stream. */
export interface StreamRow {
  table: string;
  row: object;
  /** The row already serialised by {@link rowJson} (ingest serialises each row once). */
  json?: string;
  /** When set, a second row with the same id within the window is dropped (client retries). */
  dedupeId?: string;
  /** The event's packed presence fields (see presenceArg): applied in the same call once the row is in. */
  presence?: string;
}

export type AppendOutcome = 'accepted' | 'duplicate';

/** Presence settings of the account whose rows carry presence fields. */
export interface CommitPresence {
  ttlMs: number;
  graceMs: number;
}

/** Retry-After (seconds) of a 503 answered because the stream is at its cap. */
export const STREAM_FULL_RETRY_AFTER_S = 2;
/** A full commit queue empties within about one call of Redis: a retry a second later is likely to be taken. */
const COMMIT_QUEUE_RETRY_AFTER_S = 1;

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

export interface GroupCommitOptions {
  /**
   * A call closes at this many rows (a larger request still goes whole, alone): bounds how long
   * one script holds Redis. @defaultValue 2000
   */
  maxRows?: number;
  /** …or at this many bytes of row JSON. @defaultValue 1048576 */
  maxBytes?: number;
  /**
   * Calls in flight per account. While they run, new requests gather into the next call, so
   * under load the calls grow instead of their number (each call and each socket write has a
   * fixed cost in Redis and in the gateway). Two let the gateway build and answer one call while
   * Redis runs the other: with one, each waited for the other. @defaultValue 2
   */
  maxInFlight?: number;
  /**
   * A request is refused (CommitQueueFullError, nothing written) while the account's oldest
   * unsent call has waited this long for a slot: past the rate Redis keeps up with, requests
   * get a quick 503 with Retry-After instead of an answer that comes ever later from a queue
   * that only grows. @defaultValue 500
   */
  maxQueueMs?: number;
  /** Told how many presence updates of a call failed (their rows are in the stream). */
  onPresenceFailures?: (account: string, failed: number) => void;
}

interface Waiter {
  rows: number;
  resolve: (o: AppendOutcome[]) => void;
  reject: (e: unknown) => void;
}

/** One call in the making: the script's ARGV, built as requests join it. */
interface Batch {
  keys: [stream: string, presencePrefix: string];
  args: (string | number)[];
  waiters: Waiter[];
  rows: number;
  bytes: number;
  /** Its tick has passed: it goes as soon as a call slot is free. */
  due: boolean;
  /** When its first request joined it (ms). */
  openedAt: number;
  presence: CommitPresence;
}

interface AccountLane {
  queue: Batch[];
  inFlight: number;
}

const NO_PRESENCE: CommitPresence = { ttlMs: 0, graceMs: 0 };
/** Where the head of the call's ARGV (see redis/ingest-commit.lua) says how many requests it holds. */
const REQUEST_COUNT_ARG = 6;

/**
 * The write side of the per-account streams, with group commit: the rows of every request that
 * arrives within one tick (up to a row and byte bound) go to Redis in one call of
 * redis/ingest-commit.lua per account, which is one Redis Cluster slot (every key of an account
 * shares its hash tag). Each request stays all or nothing with its own de-duplication outcome,
 * its events' presence is applied in the same call, and each caller's promise settles when that
 * call has answered: a 204 still means Redis has every row of the request.
 */
export class RowStream {
  readonly #lanes = new Map<string, AccountLane>();
  readonly #maxRows: number;
  readonly #maxBytes: number;
  readonly #maxInFlight: number;
  readonly #maxQueueMs: number;
  #tickScheduled = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly cap: number,
    private readonly opts: GroupCommitOptions = {},
  ) {
    this.#maxRows = opts.maxRows ?? 2000;
    this.#maxBytes = opts.maxBytes ?? 1_048_576;
    this.#maxInFlight = opts.maxInFlight ?? 2;
    this.#maxQueueMs = opts.maxQueueMs ?? 500;
  }

  /**
   * Append one request's rows, all or nothing; resolves once Redis has them (rows whose
   * `dedupeId` was seen are reported `duplicate` and not appended). Rows with presence fields
   * also update presence, in the same call, when accepted.
   */
  append(account: string, rows: readonly StreamRow[], presence?: CommitPresence): Promise<AppendOutcome[]> {
    if (rows.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      let lane = this.#lanes.get(account);
      if (!lane) this.#lanes.set(account, (lane = { queue: [], inFlight: 0 }));
      const oldest = lane.queue[0];
      if (oldest && Date.now() - oldest.openedAt > this.#maxQueueMs) {
        reject(new CommitQueueFullError(`ingest is behind: a call has waited over ${this.#maxQueueMs} ms for Redis, retry later`, COMMIT_QUEUE_RETRY_AFTER_S));
        return;
      }
      // The last queued call is still open (a sent call leaves the queue), even when its tick has
      // passed: while a call is in flight, every request joins the next one.
      let batch = lane.queue[lane.queue.length - 1];
      if (!batch || batch.rows >= this.#maxRows || batch.bytes >= this.#maxBytes) {
        batch = this.#newBatch(account, presence);
        lane.queue.push(batch);
        this.#scheduleTick();
      }
      if (presence) batch.presence = presence;
      const args = batch.args;
      args.push(rows.length);
      for (const r of rows) {
        const json = r.json ?? rowJson(r.row);
        args.push(r.dedupeId ?? '', r.table, json, r.presence ?? '');
        batch.bytes += json.length;
      }
      batch.rows += rows.length;
      args[REQUEST_COUNT_ARG] = batch.waiters.push({ rows: rows.length, resolve, reject });
      // A full call goes at once (when a slot is free) rather than waiting for the tick.
      if (batch.rows >= this.#maxRows || batch.bytes >= this.#maxBytes) this.#pump(account, lane, true);
    });
  }

  #newBatch(account: string, presence: CommitPresence | undefined): Batch {
    const p = presence ?? NO_PRESENCE;
    return {
      keys: [this.keys.eventStream(account), this.keys.presencePrefix(account)],
      args: [this.cap, DEDUPE_TTL_S, this.keys.presenceChannel(account), p.ttlMs, p.graceMs, PRESENCE_LINGER_MS, 0, this.keys.eventIdSeenPrefix(account)],
      waiters: [],
      rows: 0,
      bytes: 0,
      due: false,
      openedAt: Date.now(),
      presence: p,
    };
  }

  /**
   * setImmediate runs after the I/O callbacks of this loop turn: every request whose body
   * arrived in the same turn is in the call.
   */
  #scheduleTick(): void {
    if (this.#tickScheduled) return;
    this.#tickScheduled = true;
    setImmediate(() => {
      this.#tickScheduled = false;
      for (const [account, lane] of this.#lanes) {
        for (const b of lane.queue) b.due = true;
        this.#pump(account, lane, false);
      }
    });
  }

  #pump(account: string, lane: AccountLane, fullOnly: boolean): void {
    while (lane.inFlight < this.#maxInFlight && lane.queue.length > 0) {
      const next = lane.queue[0]!;
      const full = next.rows >= this.#maxRows || next.bytes >= this.#maxBytes;
      if (!next.due && !(fullOnly && full)) return;
      lane.queue.shift();
      this.#send(account, lane, next);
    }
  }

  #send(account: string, lane: AccountLane, b: Batch): void {
    lane.inFlight++;
    b.args[3] = b.presence.ttlMs;
    b.args[4] = b.presence.graceMs;
    callScript(this.redis, 'ingestCommit', b.keys, b.args, false).then(
      (res) => {
        const out = res as (string | number)[];
        for (let i = 0; i < b.waiters.length; i++) {
          const w = b.waiters[i]!;
          const flags = String(out[i]);
          if (flags === 'F') {
            // Workers drain a full stream at tens of thousands of rows a second once ClickHouse is back.
            w.reject(new StreamAtCapError('the event stream is at its cap, retry later', STREAM_FULL_RETRY_AFTER_S));
          } else {
            const o: AppendOutcome[] = new Array(w.rows);
            for (let k = 0; k < w.rows; k++) o[k] = flags.charCodeAt(k) === 100 /* d */ ? 'duplicate' : 'accepted';
            w.resolve(o);
          }
        }
        const failed = Number(out[b.waiters.length] ?? 0);
        if (failed > 0) this.opts.onPresenceFailures?.(account, failed);
        this.#done(account, lane);
      },
      (err: unknown) => {
        for (const w of b.waiters) w.reject(err);
        this.#done(account, lane);
      },
    );
  }

  #done(account: string, lane: AccountLane): void {
    lane.inFlight--;
    this.#pump(account, lane, true);
    if (lane.inFlight === 0 && lane.queue.length === 0) this.#lanes.delete(account);
  }

  length(account: string): Promise<number> {
    return this.redis.xlen(this.keys.eventStream(account));
  }
}
