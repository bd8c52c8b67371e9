import { UnrecoverableError, type Job } from 'bullmq';
import type { ClickHouseClient } from '@clickhouse/client';
import { kv, type Logger } from '../../src/logger.js';
import { TABLES } from '../../src/adapters/clickhouse/tables.js';
import type { ErasedStore } from '../../src/adapters/redis/erased.store.js';
import { zBackfillJob, type BackfillJob, type JobProgress } from '../../src/adapters/queues/job.schema.js';
import type { BackfillResult } from '../../src/domain/job-results.js';
import { clickEventId, parseLogText, recKey, type LogRecord } from '../../src/domain/log-lines.js';
import { chTime } from '../../src/domain/stored-event.js';

export interface BackfillDeps {
  ch: ClickHouseClient;
  erased: ErasedStore;
  log: Logger;
  /** Aborted when the worker must stop: the job gives up between chunks and is retried later. */
  signal: AbortSignal;
}

/** Lines checked and written per round trip. */
const CHUNK = 2000;
/**
 * A click the live pipeline already recorded (same session, listing and rec) within this many
 * milliseconds of a log line is the same click: the line is not written again.
 */
export const LIVE_CLICK_MATCH_MS = 30_000;
/** Marks backfilled rows: `recommendations.source` and `events.props`. */
export const BACKFILL_SOURCE = 'backfill';
const BACKFILL_PROPS = JSON.stringify({ source: BACKFILL_SOURCE });

interface ExistingClick {
  id: string;
  session_id: string;
  listing: string;
  rec_id: string;
  ms: string | number;
  backfilled: number | boolean;
}

function clickKey(session: string, listing: string, rec: string): string {
  return `${session}\u0000${listing}\u0000${rec}`;
}

/**
 * `backfill` queue, `backfill-from-logs` job: recommendations and recommendation clicks from
 * `[property-recommended]` / `[property-card-click]` log lines, written straight to ClickHouse
 * after checking what is already there, so a second run over the same window writes nothing.
 */
export function backfillProcessor(deps: BackfillDeps) {
  return async (job: Job<BackfillJob, BackfillResult>): Promise<BackfillResult> => {
    const parsedJob = zBackfillJob.safeParse(job.data);
    if (!parsedJob.success) throw new UnrecoverableError(`invalid backfill job data: ${parsedJob.error.issues[0]?.message ?? 'unknown'}`);
    const { account, logs, from, to } = parsedJob.data;
    const started = Date.now();
    const progress = (pct: number, step: string) => job.updateProgress({ pct, step } satisfies JobProgress);
    await progress(1, 'parsing');
    const parsed = parseLogText(logs, account, { from: from ? Date.parse(from) : undefined, to: to ? Date.parse(to) : undefined });

    const result: BackfillResult = {
      recWritten: 0,
      clickWritten: 0,
      skipped: parsed.outsideWindow,
      invalid: parsed.invalid,
      skippedReasons: { window: parsed.outsideWindow, present: 0, erased: 0 },
      invalidReasons: { ...parsed.invalidReasons },
      ignored: parsed.ignored,
      lines: parsed.lines,
    };
    const seenRecs = new Set<string>();
    const seenClicks = new Set<string>();
    const records = parsed.records;
    for (let i = 0; i < records.length; i += CHUNK) {
      if (deps.signal.aborted) throw new Error('worker shutting down; the backfill is retried (written lines are skipped then)');
      await progress(Math.max(1, Math.round((i / records.length) * 98)), 'writing');
      const chunk = records.slice(i, i + CHUNK);
      // An erased person must not come back through old logs.
      const erased = await deps.erased.erasedPersonsOf(
        account,
        chunk.map((r) => r.person),
      );
      const usable: LogRecord[] = [];
      for (const r of chunk) {
        if (r.person && erased.has(r.person)) result.skippedReasons.erased++;
        else usable.push(r);
      }
      const recs = await writeRecommendations(
        deps.ch,
        account,
        usable.filter((r) => r.kind === 'recommended'),
        seenRecs,
      );
      const clicks = await writeClicks(
        deps.ch,
        account,
        usable.filter((r) => r.kind === 'click'),
        seenClicks,
      );
      result.recWritten += recs.written;
      result.clickWritten += clicks.written;
      result.skippedReasons.present += recs.present + clicks.present;
    }
    result.skipped = result.skippedReasons.window + result.skippedReasons.present + result.skippedReasons.erased;
    const ms = Date.now() - started;
    deps.log.info(
      { account, job: job.id, ...result, ms },
      `[backfill] ${kv({ account, recWritten: result.recWritten, clickWritten: result.clickWritten, skipped: result.skipped, invalid: result.invalid, job: job.id, ms })}`,
    );
    // Logs may carry person ids and can be large: the kept job holds only their size.
    await job.updateData({ ...parsedJob.data, logs: '' });
    return result;
  };
}

async function writeRecommendations(
  ch: ClickHouseClient,
  account: string,
  lines: LogRecord[],
  seen: Set<string>,
): Promise<{ written: number; present: number }> {
  if (!lines.length) return { written: 0, present: 0 };
  const rs = await ch.query({
    query: `SELECT rec_id, listing, session_id FROM ${TABLES.recommendations} WHERE account_id = {account:String} AND rec_id IN {recs:Array(String)}`,
    query_params: { account, recs: [...new Set(lines.map((r) => r.rec))] },
    format: 'JSONEachRow',
  });
  for (const r of await rs.json<{ rec_id: string; listing: string; session_id: string }>())
    seen.add(recKey({ rec: r.rec_id, listing: r.listing, session: r.session_id }));
  const values: Record<string, unknown>[] = [];
  let present = 0;
  for (const r of lines) {
    const key = recKey(r);
    if (seen.has(key)) {
      present++;
      continue;
    }
    seen.add(key);
    values.push({
      account_id: account,
      rec_id: r.rec,
      listing: r.listing,
      session_id: r.session,
      visitor_id: '',
      person_id: r.person,
      ts: chTime(r.ts),
      source: BACKFILL_SOURCE,
    });
  }
  if (values.length) await ch.insert({ table: TABLES.recommendations, values, format: 'JSONEachRow' });
  return { written: values.length, present };
}

async function writeClicks(ch: ClickHouseClient, account: string, lines: LogRecord[], seen: Set<string>): Promise<{ written: number; present: number }> {
  if (!lines.length) return { written: 0, present: 0 };
  const rs = await ch.query({
    query: `SELECT toString(event_id) AS id, session_id, listing, rec_id, toUnixTimestamp64Milli(ts) AS ms,
              JSONExtractString(props, 'source') = {source:String} AS backfilled
            FROM ${TABLES.events}
            WHERE account_id = {account:String} AND type = 'click' AND session_id IN {sessions:Array(String)}`,
    query_params: { account, sessions: [...new Set(lines.map((r) => r.session))], source: BACKFILL_SOURCE },
    format: 'JSONEachRow',
  });
  // Live clicks (not from a backfill) by session/listing/rec: each absorbs at most one line.
  const live = new Map<string, number[]>();
  for (const e of await rs.json<ExistingClick>()) {
    if (Number(e.backfilled)) seen.add(e.id);
    else {
      const k = clickKey(e.session_id, e.listing, e.rec_id);
      let list = live.get(k);
      if (!list) live.set(k, (list = []));
      list.push(Number(e.ms));
    }
  }
  const now = chTime(Date.now());
  const values: Record<string, unknown>[] = [];
  let present = 0;
  for (const r of lines) {
    const id = clickEventId(r);
    if (seen.has(id)) {
      present++;
      continue;
    }
    const near = live.get(clickKey(r.session, r.listing, r.rec));
    const j = near?.findIndex((ms) => Math.abs(ms - r.ts) <= LIVE_CLICK_MATCH_MS) ?? -1;
    if (near && j >= 0) {
      near.splice(j, 1);
      present++;
      continue;
    }
    seen.add(id);
    values.push({
      account_id: account,
      event_id: id,
      ts: chTime(r.ts),
      received_at: now,
      type: 'click',
      session_id: r.session,
      visitor_id: '',
      person_id: r.person,
      label: 'recommendation',
      listing: r.listing,
      rec_id: r.rec,
      props: BACKFILL_PROPS,
    });
  }
  if (values.length) await ch.insert({ table: TABLES.events, values, format: 'JSONEachRow' });
  return { written: values.length, present };
}
