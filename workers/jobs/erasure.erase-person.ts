import { setTimeout as sleep } from 'node:timers/promises';
import { UnrecoverableError, type Job } from 'bullmq';
import type { ClickHouseClient } from '@clickhouse/client';
import { kv, type Logger } from '../../src/logger.js';
import { TABLES } from '../../src/adapters/clickhouse/tables.js';
import type { ErasedStore } from '../../src/adapters/redis/erased.store.js';
import { zErasePersonJob, type ErasePersonJob, type ErasureResult, type JobProgress } from '../../src/adapters/queues/job.schema.js';
import { countSql, deleteSql, PARAMS, planErasure, rowBelongs, sessionsQuery, visitorsQuery, type ColumnInfo, type ErasurePlan } from '../../src/domain/erasure-plan.js';
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
  /** Aborted when the worker must stop: the job gives up between steps and is retried later. */
  signal: AbortSignal;
}

const COLUMNS_SQL = `SELECT c.table AS table, c.name AS name, c.type AS type, t.engine AS engine
  FROM system.columns AS c INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table
  WHERE c.database = currentDatabase()
  ORDER BY c.table, c.position`;

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
 * `erasure` queue, `erase-person` job: remove every row of a person and of every visitor and
 * session they own, stop their rows still in the stream, forget their presence, revoke their
 * tokens, and write a receipt without personal data. Every step is idempotent, so a retry (or
 * a second job for the same person) is harmless and reports zeros for what is already gone.
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
    const streamEntries = await deps.erased.sweepStream(account, (row) => {
      if (!rowBelongs(row, personId, visitors, sessions)) return false;
      // A device bound in a row not yet flushed is the person's too.
      if (row.person_id === personId && typeof row.visitor_id === 'string' && row.visitor_id && !visitors.has(row.visitor_id)) lateVisitors.add(row.visitor_id);
      return true;
    });
    if (lateVisitors.size) {
      for (const v of lateVisitors) visitors.add(v);
      await deps.erased.mark(account, personId, [...lateVisitors], started);
      params.visitors = [...visitors];
      for (const s of await ids(deps.ch, sessionsQuery(plan.targets), params)) sessions.add(s);
    }
    params.sessions = [...sessions];
    checkpoint();

    const counts: Record<string, number> = Object.fromEntries(plan.targets.map((t) => [t.table, 0]));
    const deletePass = async (fromPct: number, toPct: number) => {
      for (const [i, t] of plan.targets.entries()) {
        checkpoint();
        await progress(Math.round(fromPct + ((toPct - fromPct) * i) / Math.max(1, plan.targets.length)), `deleting from ${t.table}`);
        const rs = await deps.ch.query({ query: countSql(t), query_params: params, format: 'JSONEachRow' });
        const n = Number((await rs.json<{ n: string | number }>())[0]?.n ?? 0);
        if (!n) continue;
        await deps.ch.command({ query: deleteSql(t, deps.cluster), query_params: params });
        counts[t.table] = (counts[t.table] ?? 0) + n;
      }
    };
    await deletePass(30, 75);

    await progress(80, 'forgetting presence and identity bindings');
    const presenceEntries = deps.presence && visitors.size ? await deps.presence.forget(account, [...visitors]) : 0;
    await deps.erased.forgetBindings(account, personId, [...visitors]);

    await progress(85, 'second pass for rows flushed meanwhile');
    await sleep(deps.settleMs, undefined, { signal: deps.signal }).catch(() => undefined);
    await deletePass(85, 95);

    const totalRows = Object.values(counts).reduce((a, b) => a + b, 0);
    const result: ErasureResult = {
      tables: counts,
      totalRows,
      visitors: visitors.size,
      sessions: sessions.size,
      streamEntries,
      presenceEntries,
      skippedTables: Object.fromEntries(plan.skipped.map((s) => [s.table, s.reason])),
    };
    await progress(97, 'writing the receipt');
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
        },
      ],
    });
    const ms = Date.now() - started;
    deps.log.info(
      { account, job: job.id, counts, streamEntries, presenceEntries, ms },
      `[erasure] ${kv({ account, tables: plan.targets.length, rows: totalRows, visitors: visitors.size, sessions: sessions.size, stream: streamEntries, presence: presenceEntries, job: job.id, ms })}`,
    );
    // The kept job must not hold the person id: the last step, so a retry still has it.
    await job.updateData({ ...parsed.data, personId: '' });
    return result;
  };
}
