import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { UnrecoverableError, type Job } from 'bullmq';
import type { ClickHouseClient } from '@clickhouse/client';
import { kv, type Logger } from '../../src/logger.js';
import { TABLES } from '../../src/adapters/clickhouse/tables.js';
import type { AofOutcome } from '../../src/adapters/redis/aof.js';
import type { ErasedStore } from '../../src/adapters/redis/erased.store.js';
import { zErasePersonJob, type ErasePersonJob, type JobProgress } from '../../src/adapters/queues/job.schema.js';
import type { ErasureResult } from '../../src/domain/job-results.js';
import {
  cleanupSql,
  countSql,
  deleteSql,
  OLD_PARTS_SQL,
  outsideReach,
  PARAMS,
  planErasure,
  rowBelongs,
  sessionsQuery,
  STALE_STAGING_SQL,
  stagingCreateSql,
  stagingDropSql,
  stagingInsertSql,
  stagingSyncSql,
  stagingTable,
  visitorsQuery,
  type ColumnInfo,
  type ErasurePlan,
  type StagedKind,
} from '../../src/domain/erasure-plan.js';
import { chTime } from '../../src/domain/stored-event.js';

/** What erasure needs from presence (contract of `PresenceStore.forget`). */
export interface PresenceForgetter {
  /** Remove these visitors from every live presence structure; returns how many entries went. */
  forget(account: string, visitorIds: string[]): Promise<number>;
}

export interface ErasureDeps {
  ch: ClickHouseClient;
  erased: ErasedStore;
  log: Logger;
  /** Live presence (unset: nothing to forget). */
  presence?: PresenceForgetter;
  /** ClickHouse cluster name for `ON CLUSTER` mutations (validated config). */
  cluster?: string;
  /**
   * Wait before the second delete pass: a flush that passed the erasure filter just before the
   * marks were set may still be inserting.
   */
  settleMs: number;
  /**
   * How long the job waits for the parts its deletes replaced to leave the disk (they go
   * `old_parts_lifetime`, 10 s, after the delete). Past it the job completes and says how many
   * are left. @defaultValue 30000
   */
  oldPartsWaitMs?: number;
  /** Rewrite the Redis append-only file (unset: nothing to rewrite). Never throws. */
  rewriteAof?: (signal: AbortSignal) => Promise<AofOutcome>;
  /** Log lines name ids raw (`LOG_PERSON_IDS=raw`): the receipt says so. */
  rawLogIds?: boolean;
  /** Aborted when the worker must stop: the job gives up between steps and is retried later. */
  signal: AbortSignal;
}

const COLUMNS_SQL = `SELECT c.table AS table, c.name AS name, c.type AS type, t.engine AS engine
  FROM system.columns AS c INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table
  WHERE c.database = currentDatabase()
  ORDER BY c.table, c.position`;

/** Ids per staging insert: one query parameter each, kept well under ClickHouse's query size limit. */
const STAGE_CHUNK = 10_000;

async function ids(ch: ClickHouseClient, sql: string | undefined, params: Record<string, unknown>): Promise<string[]> {
  if (!sql) return [];
  const rs = await ch.query({ query: sql, query_params: params, format: 'JSONEachRow' });
  return (await rs.json<{ id: string }>()).map((r) => r.id);
}

/** The live schema's tables and how each is cleaned (other engineers' tables are found here). */
export async function discoverPlan(ch: ClickHouseClient): Promise<ErasurePlan> {
  const rs = await ch.query({ query: COLUMNS_SQL, format: 'JSONEachRow' });
  return planErasure(await rs.json<ColumnInfo>());
}

/**
 * The ids of one erasure in a staging table the mutations read by name (see erasure-plan.ts):
 * created per job under a random name, dropped when the job ends, whatever happened.
 */
class Staging {
  readonly name = stagingTable(randomBytes(8).toString('hex'));

  constructor(
    private readonly ch: ClickHouseClient,
    private readonly cluster: string | undefined,
  ) {}

  async create(): Promise<void> {
    const rs = await this.ch.query({ query: STALE_STAGING_SQL, format: 'JSONEachRow' });
    for (const { name } of await rs.json<{ name: string }>()) await this.ch.command({ query: stagingDropSql(name, this.cluster) });
    await this.ch.command({ query: stagingCreateSql(this.name, this.cluster) });
  }

  async add(kind: StagedKind, list: readonly string[]): Promise<void> {
    for (let i = 0; i < list.length; i += STAGE_CHUNK) {
      await this.ch.command({ query: stagingInsertSql(this.name), query_params: { [PARAMS.kind]: kind, [PARAMS.ids]: list.slice(i, i + STAGE_CHUNK) } });
    }
  }

  async synced(): Promise<void> {
    if (this.cluster) await this.ch.command({ query: stagingSyncSql(this.name, this.cluster) });
  }

  /**
   * A mutation still running when its staging table goes would fail on every retry and hold up
   * every later mutation of its table: any left (a job aborted mid-delete) is killed first; the
   * retried job deletes those rows again.
   */
  async drop(): Promise<void> {
    const on = this.cluster ? ` ON CLUSTER \`${this.cluster}\`` : '';
    await this.ch.command({
      query: `KILL MUTATION${on} WHERE database = currentDatabase() AND is_done = 0 AND position(command, {staging:String}) > 0 SYNC`,
      query_params: { staging: this.name },
    });
    await this.ch.command({ query: stagingDropSql(this.name, this.cluster) });
  }
}

/**
 * `erasure` queue, `erase-person` job: remove every row of a person and of every visitor and
 * session they own, stop their rows still in the stream, forget their presence, revoke their
 * tokens, and write a receipt without personal data. Every step is idempotent, so a retry (or
 * a second job for the same person) is harmless and reports zeros for what is already gone.
 *
 * Nothing of the person stays on disk: the deletes name the ids only through a staging table,
 * the parts they replaced are removed within seconds, and the Redis AOF is rewritten once the
 * marks are keyed hashes and the job's own data is scrubbed.
 */
export function erasePersonProcessor(deps: ErasureDeps) {
  return async (job: Job<ErasePersonJob, ErasureResult>): Promise<ErasureResult> => {
    const parsed = zErasePersonJob.safeParse(job.data);
    // A scrubbed payload means the job already completed once: never run it with an empty id.
    if (!parsed.success) throw new UnrecoverableError(`invalid erasure job data: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
    const { account, personId } = parsed.data;
    const started = Date.now();
    const progress = (pct: number, step: string) => job.updateProgress({ pct, step } satisfies JobProgress);
    const checkpoint = () => {
      if (deps.signal.aborted) throw new Error('worker shutting down; the erasure is retried');
    };

    await progress(5, 'discovering tables');
    const plan = await discoverPlan(deps.ch);
    const params = { [PARAMS.account]: account, [PARAMS.person]: personId, [PARAMS.visitors]: [] as string[], [PARAMS.sessions]: [] as string[] };
    const visitors = new Set(await ids(deps.ch, visitorsQuery(plan.targets), params));
    params.visitors = [...visitors];
    const sessions = new Set(await ids(deps.ch, sessionsQuery(plan.targets), params));

    // Marks first: from here the flusher drops the person's rows and their tokens are refused.
    await progress(15, 'revoking tokens and marking visitors');
    await deps.erased.mark(account, personId, [...visitors], started);
    checkpoint();

    await progress(25, 'removing rows still in the stream');
    const lateVisitors = new Set<string>();
    const swept = await deps.erased.sweepStream(account, (row) => {
      if (!rowBelongs(row, personId, visitors, sessions)) return false;
      // A device bound in a row not yet flushed is the person's too.
      if (row.person_id === personId && typeof row.visitor_id === 'string' && row.visitor_id && !visitors.has(row.visitor_id)) lateVisitors.add(row.visitor_id);
      return true;
    });
    const streamEntries = swept.removed;
    if (lateVisitors.size) {
      for (const v of lateVisitors) visitors.add(v);
      await deps.erased.mark(account, personId, [...lateVisitors], started);
      params.visitors = [...visitors];
      for (const s of await ids(deps.ch, sessionsQuery(plan.targets), params)) sessions.add(s);
    }
    checkpoint();

    const counts: Record<string, number> = Object.fromEntries(plan.targets.map((t) => [t.table, 0]));
    let presenceEntries = 0;
    let lastDeleteAt: string | undefined;
    const staging = new Staging(deps.ch, deps.cluster);
    await staging.create();
    try {
      await staging.add('person', [personId]);
      await staging.add('visitor', [...visitors]);
      await staging.add('session', [...sessions]);
      await staging.synced();
      const deletePass = async (fromPct: number, toPct: number) => {
        for (const [i, t] of plan.targets.entries()) {
          checkpoint();
          await progress(Math.round(fromPct + ((toPct - fromPct) * i) / Math.max(1, plan.targets.length)), `deleting from ${t.table}`);
          const rs = await deps.ch.query({ query: countSql(t, staging.name), query_params: { [PARAMS.account]: account }, format: 'JSONEachRow' });
          const n = Number((await rs.json<{ n: string | number }>())[0]?.n ?? 0);
          if (!n) continue;
          await deps.ch.command({ query: deleteSql(t, staging.name, deps.cluster), query_params: { [PARAMS.account]: account } });
          counts[t.table] = (counts[t.table] ?? 0) + n;
          lastDeleteAt = await serverNow(deps.ch);
        }
      };
      await deletePass(30, 70);

      await progress(75, 'forgetting presence and identity bindings');
      presenceEntries = deps.presence && visitors.size ? await deps.presence.forget(account, [...visitors]) : 0;
      await deps.erased.forgetBindings(account, personId, [...visitors]);

      await progress(80, 'second pass for rows flushed meanwhile');
      await sleep(deps.settleMs, undefined, { signal: deps.signal }).catch(() => undefined);
      await deletePass(80, 88);
    } finally {
      await staging.drop();
    }

    await progress(90, 'removing the replaced parts from disk');
    const oldPartsLeft = lastDeleteAt ? await removeOldParts(deps, plan, lastDeleteAt) : 0;

    // The kept job must not hold the person id, and the AOF rewrite below must not find it in
    // the job's hash either. Nothing after this needs the id.
    await job.updateData({ ...parsed.data, personId: '' });
    await progress(94, 'rewriting the Redis append-only file');
    let aof: AofOutcome = deps.rewriteAof ? await deps.rewriteAof(deps.signal) : 'off';
    if (swept.leftInMemory && aof === 'rewritten') {
      // The rewrite copied the flagged entries of a stream too long to rebuild.
      deps.log.warn(
        { account, job: job.id, entries: swept.leftInMemory },
        '[erasure] stream too long to rebuild; removed entries stay in Redis until it drains',
      );
      aof = 'failed';
    }

    const totalRows = Object.values(counts).reduce((a, b) => a + b, 0);
    const reach = outsideReach(deps.rawLogIds ?? false);
    const result: ErasureResult = {
      tables: counts,
      totalRows,
      visitors: visitors.size,
      sessions: sessions.size,
      streamEntries,
      presenceEntries,
      skippedTables: Object.fromEntries(plan.skipped.map((s) => [s.table, s.reason])),
      oldPartsLeft,
      aof,
      outsideReach: reach,
    };
    await progress(97, 'writing the receipt');
    try {
      await deps.ch.insert({
        table: TABLES.erasureReceipts,
        format: 'JSONEachRow',
        values: [
          {
            account_id: account,
            job_id: job.id ?? '',
            erased_at: chTime(Date.now()),
            attempt: job.attemptsMade + 1,
            tables: counts,
            total_rows: totalRows,
            visitors: visitors.size,
            sessions: sessions.size,
            stream_entries: streamEntries,
            presence_entries: presenceEntries,
            old_parts_left: oldPartsLeft,
            aof,
            outside_reach: reach,
          },
        ],
      });
    } catch (err) {
      // The id is scrubbed: a retry could not run again. The erasure itself is complete.
      throw new UnrecoverableError(`the erasure is complete but its receipt could not be written: ${(err as Error).message}`);
    }
    const ms = Date.now() - started;
    const log = oldPartsLeft || aof === 'failed' ? deps.log.warn.bind(deps.log) : deps.log.info.bind(deps.log);
    log(
      { account, job: job.id, counts, streamEntries, presenceEntries, oldPartsLeft, aof, ms },
      `[erasure] ${kv({ account, tables: plan.targets.length, rows: totalRows, visitors: visitors.size, sessions: sessions.size, stream: streamEntries, presence: presenceEntries, old_parts: oldPartsLeft, aof, job: job.id, ms })}`,
    );
    return result;
  };
}

/** ClickHouse's own clock, in the `DateTime` text form its parameters take. */
async function serverNow(ch: ClickHouseClient): Promise<string> {
  const rs = await ch.query({ query: 'SELECT toString(now()) AS t', format: 'JSONEachRow' });
  return (await rs.json<{ t: string }>())[0]!.t;
}

/**
 * Run each table's cleanup until no part replaced by the deletes (outdated at or before the
 * last of them) is left, within `oldPartsWaitMs`. Returns how many are left (0: gone from disk).
 */
async function removeOldParts(deps: ErasureDeps, plan: ErasurePlan, until: string): Promise<number> {
  const deadline = Date.now() + (deps.oldPartsWaitMs ?? 30_000);
  const tables = plan.targets.map((t) => t.table);
  let cleanupRefused = false;
  for (;;) {
    if (!cleanupRefused) {
      try {
        for (const t of plan.targets) await deps.ch.command({ query: cleanupSql(t) });
      } catch (err) {
        // A server user without the SYSTEM privilege: its own cleanup thread still runs.
        cleanupRefused = true;
        deps.log.warn({ err }, '[erasure] SYSTEM START CLEANUP refused; waiting for the server to remove old parts');
      }
    }
    const rs = await deps.ch.query({ query: OLD_PARTS_SQL, query_params: { tables, until }, format: 'JSONEachRow' });
    const left = Number((await rs.json<{ n: string | number }>())[0]?.n ?? 0);
    if (!left || Date.now() > deadline || deps.signal.aborted) return left;
    await sleep(1000, undefined, { signal: deps.signal }).catch(() => undefined);
  }
}
