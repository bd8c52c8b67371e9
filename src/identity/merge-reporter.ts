import { setTimeout as sleep } from 'node:timers/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import { kv, type Logger } from '../logger.js';
import { TABLES } from '../adapters/clickhouse/tables.js';
import { callScript } from '../adapters/redis/scripts.js';
import { FLUSH_GROUP, type RedisKeys } from '../adapters/redis/keys.js';
import type { RedisClient } from '../adapters/redis/client.js';
import type { ErasedStore } from '../adapters/redis/erased.store.js';
import type { Pseudonyms } from '../domain/pseudonym.js';
import type { FlushRow, RowFilter } from '../adapters/redis/stream-entry.js';
import { asEdgeRow, type EdgeSource } from './edge.js';
import { BINDING_TTL_S, parseBinding } from './identity.service.js';

/** An edge row seen by this worker's flusher, waiting until it and everything before it are in ClickHouse. */
interface PendingMerge {
  stream: string;
  entryId: string;
  account: string;
  visitor: string;
  person: string;
  source: EdgeSource;
  tsMs: number;
}

export interface MergeReporterOptions {
  /** How often pending merges are checked. @defaultValue 200 */
  pollMs?: number;
}

/**
 * The worker side of a binding. It watches the identity-edge rows its flusher inserts and,
 * once ClickHouse holds the edge AND every row appended to the stream before it, it:
 * 1. counts, in ClickHouse, the visitor's sessions from before the edge (all of them are the
 *    person's now, through the edge, without rewriting a single event);
 * 2. confirms the binding in Redis (newest edge wins; a replayed or outdated edge changes
 *    nothing), so gateways stop writing edges for this pair;
 * 3. logs `[anonvisitor-merge] account=… person=… visitor=… sessions=N` for a binding that changed.
 *
 * "Everything before it" is read from the consumer group: no entry with an id up to the edge's
 * is pending (entries are handed out in id order, and acknowledged only after their insert).
 * So N counts exactly the rows a query sees afterwards, even events that waited in the stream
 * behind a slow or dead consumer when the browser was bound.
 */
export class IdentityMergeReporter {
  #pending: PendingMerge[] = [];
  #running = false;
  #loop?: Promise<void>;
  readonly #pollMs: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly ch: ClickHouseClient,
    private readonly keys: RedisKeys,
    private readonly log: Logger,
    private readonly erased: ErasedStore,
    private readonly ids: Pseudonyms,
    opts: MergeReporterOptions = {},
  ) {
    this.#pollMs = opts.pollMs ?? 200;
  }

  /** A flusher filter that only observes: it notes every identity-edge row of a batch. */
  readonly filter: RowFilter = async (rows: FlushRow[]) => {
    for (const r of rows) {
      if (r.entry.table !== TABLES.identityEdges) continue;
      const row = r.parsed();
      const edge = row && asEdgeRow(row);
      if (!edge) continue;
      if (this.#pending.some((p) => p.stream === r.entry.stream && p.entryId === r.entry.id)) continue;
      this.#pending.push({
        stream: r.entry.stream,
        entryId: r.entry.id,
        account: edge.account_id,
        visitor: edge.visitor_id,
        person: edge.person_id,
        source: edge.source,
        tsMs: edge.tsMs,
      });
    }
    return rows;
  };

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  get pending(): number {
    return this.#pending.length;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      if (this.#pending.length) {
        try {
          await this.tick();
        } catch (err) {
          this.log.warn({ err }, '[identity] merge check failed; retrying');
        }
      }
      await sleep(this.#pollMs);
    }
  }

  /** Handle every pending merge whose edge is settled; keep the rest for the next tick. */
  async tick(): Promise<void> {
    const keep: PendingMerge[] = [];
    const list = this.#pending;
    this.#pending = [];
    try {
      while (list.length) {
        const p = list[0]!;
        if (await this.#settled(p)) await this.#report(p);
        else keep.push(p);
        list.shift();
      }
    } finally {
      // Whatever was not handled (an error midway included) is tried again.
      this.#pending = [...keep, ...list, ...this.#pending];
    }
  }

  async #settled(p: PendingMerge): Promise<boolean> {
    const pending = (await this.redis.xpending(p.stream, FLUSH_GROUP, '-', p.entryId, 1)) as unknown[];
    return pending.length === 0;
  }

  async #report(p: PendingMerge): Promise<void> {
    // An erasure that came after the edge removed it (or its flush filter dropped it): no merge.
    const erasedAt = await this.erased.erasedAt(p.account, p.person);
    if (erasedAt !== undefined && erasedAt >= p.tsMs) return;
    const sessions = await this.#countSessions(p);
    const [changed, previous] = (await callScript(
      this.redis,
      'identityConfirm',
      [this.keys.identityBinding(p.account, p.visitor)],
      [p.tsMs, p.person, BINDING_TTL_S],
    )) as [number, string];
    const prev = parseBinding(previous)?.person;
    // Unchanged (a replay, an older edge, or the same person again, e.g. an identify of a bound pair): no merge.
    if (changed !== 1 || prev === p.person) return;
    const { ids } = this;
    const fields = {
      account: p.account,
      person: ids.personLogId(p.account, p.person),
      visitor: ids.visitorLogId(p.account, p.visitor),
      sessions,
      source: p.source,
      previous: ids.personLogId(p.account, prev),
    };
    this.log.info(fields, `[anonvisitor-merge] ${kv(fields)}`);
  }

  /** Sessions of the visitor with events received before the binding: all of them are the person's now. */
  async #countSessions(p: PendingMerge): Promise<number> {
    const rs = await this.ch.query({
      query: `SELECT uniqExact(session_id) AS n FROM ${TABLES.events}
              WHERE account_id = {account:String} AND visitor_id = {visitor:String} AND session_id != ''
                AND received_at < fromUnixTimestamp64Milli({ts:Int64}, 'UTC')`,
      query_params: { account: p.account, visitor: p.visitor, ts: p.tsMs },
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ n: string | number }>();
    return Number(row?.n ?? 0);
  }
}
