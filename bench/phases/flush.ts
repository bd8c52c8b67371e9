/**
 * Phase `flush`: events/s from the stream into ClickHouse — one worker process through the store
 * over HTTP, two sharing the stream, and the worker inside the store process — beside the plain
 * insert loop the flusher was before (bench/baseline/flush-loop.ts). Leaves the store running the
 * worker role too (`ctx.state.storeWorker`).
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FLUSH_GROUP } from '../../src/adapters/redis/keys.js';
import { storedEvent } from '../../src/domain/stored-event.js';
import { TARGETS, type BenchContext } from '../lib/context.js';
import { cpuSeconds, runScript, startService } from '../lib/proc.js';
import { figure, round } from '../lib/report.js';

/** Copy the rows of one stream into others, rewriting the account (another account's rows, same bytes otherwise). */
async function copyRows(ctx: BenchContext, from: string, to: [key: string, account: string][]): Promise<number> {
  const { redis } = ctx;
  let n = 0;
  for (let cursor = '-'; ;) {
    const entries = (await redis.xrange(from, cursor, '+', 'COUNT', 10_000)) as [string, string[]][];
    const fresh = cursor === '-' ? entries : entries.slice(1);
    if (!fresh.length) break;
    const pipe = redis.pipeline();
    for (const [, f] of fresh) {
      const row = f[f.indexOf('r') + 1]!;
      for (const [key, account] of to) pipe.xadd(key, '*', 't', 'events', 'r', row.replace(/"account_id":"[^"]*"/, `"account_id":"${account}"`));
    }
    await pipe.exec();
    n += fresh.length;
    cursor = fresh[fresh.length - 1]![0];
  }
  return n;
}

interface Drain {
  events: number;
  drainMs: number;
  eventsPerS: number;
  batches: number;
  /** Rows over the summed time of the flushes themselves (parse, filters, insert, ack). */
  insideFlushEventsPerS: number;
}

/** Wait until the bench stream is empty and nothing is pending; time it from the first flush's start in the workers' logs. */
async function drain(ctx: BenchContext, events: number, logs: () => Record<string, unknown>[]): Promise<Drain> {
  const { redis, streamBench } = ctx;
  const deadline = Date.now() + 180_000;
  let doneAt = 0;
  while (Date.now() < deadline) {
    const [len, pending] = await Promise.all([redis.xlen(streamBench), redis.xpending(streamBench, FLUSH_GROUP).catch(() => [0]) as Promise<[number]>]);
    if (len === 0 && Number(pending[0]) === 0) {
      doneAt = Date.now();
      break;
    }
    await sleep(20);
  }
  if (!doneAt) throw new Error('the stream was not drained within 180 s');
  // The workers log through pino's asynchronous destination: their last flush lines may reach
  // the file a moment after the stream is empty.
  const flushLines = () =>
    logs().filter((l) => String(l.msg).startsWith('[flush] rows=') && Number((l.tables as Record<string, number> | undefined)?.events ?? 0) > 0);
  let lines = flushLines();
  for (let i = 0; i < 100 && lines.reduce((n, l) => n + Number((l.tables as Record<string, number>).events), 0) < events; i++) {
    await sleep(50);
    lines = flushLines();
  }
  if (!lines.length) throw new Error("no [flush] lines with events in the workers' logs");
  const first = Math.min(...lines.map((l) => Date.parse(String(l.time)) - Number(l.ms)));
  const rows = lines.reduce((n, l) => n + Number(l.rows), 0);
  const ms = lines.reduce((n, l) => n + Number(l.ms), 0);
  return {
    events,
    drainMs: doneAt - first,
    eventsPerS: Math.round((events / (doneAt - first)) * 1000),
    batches: lines.length,
    insideFlushEventsPerS: ms ? Math.round((rows / ms) * 1000) : 0,
  };
}

const flushBaselineIs =
  'the plain insert loop the flusher was before (each row parsed, the client serialising it again, batches of 10,000) from a stream through the store, XDEL after each; no consumer group, ack, replay check, filters or log';

/**
 * Rows as the gateway stores them (the ingest phases' shape: pageviews of 20,000 sessions, one
 * visitor each), for a flush run without the ingest phases (`--only=flush`).
 */
async function seedStream(ctx: BenchContext, stream: string, account: string, count: number): Promise<number> {
  const now = Date.now();
  for (let i = 0; i < count; i += 10_000) {
    const pipe = ctx.redis.pipeline();
    for (let j = i; j < Math.min(count, i + 10_000); j++) {
      const s = String((j * 7919) % 20_000).padStart(7, '0');
      const at = new Date(now - (count - j)).toISOString().replace('T', ' ').replace('Z', '');
      const path = `/listings/${(j * 7919) % 500}-high-st`;
      pipe.xadd(
        stream,
        '*',
        't',
        'events',
        'r',
        JSON.stringify(
          storedEvent({
            account_id: account,
            event_id: randomUUID(),
            ts: at,
            received_at: at,
            session_id: `s-${s}`,
            visitor_id: `v-${s}`,
            path,
            url: `https://bench.example${path}?utm_medium=email`,
            title: '12 High Street, a two-bedroom flat',
            referrer: 'https://www.google.com/',
            ua_family: 'Chrome',
            device: 'desktop',
            referrer_host: 'www.google.com',
            channel: 'email',
            ip_hash: 'a1b2c3d4e5f60718',
          }),
        ),
      );
    }
    await pipe.exec();
  }
  return count;
}

export async function flush(ctx: BenchContext): Promise<void> {
  const { redis, streamBench, common, storeUrl, store, dir, procs, figures, notes, log, S } = ctx;
  let n = await redis.xlen(streamBench);
  if (n === 0 && ctx.opts.only) {
    ctx.state.ingested = await seedStream(ctx, streamBench, 'bench', S.flushEvents);
    n = ctx.state.ingested;
    notes.push(`flush: the ingest phases did not run; ${n.toLocaleString('en-US')} rows in the gateway's stored form were written to the stream`);
  }
  if (n === 0) throw new Error('no events in the stream: the ingest phases did not run');
  if (n > S.flushEvents) {
    await redis.xtrim(streamBench, 'MAXLEN', S.flushEvents);
    n = await redis.xlen(streamBench);
  }
  // The baselines get the same rows (as another account) in their own streams; a copy is kept for the later runs.
  await copyRows(ctx, streamBench, [
    ['bl:flush', 'bench-bl'],
    ['bl:flush-plain', 'bench-bl'],
    ['copy:flush', 'bench-copy'],
  ]);

  // 1. One worker process, inserting through the store over HTTP.
  log(`flush: ${n} events waiting; starting a worker`);
  const worker = await startService('worker', { ...common, ROLES: 'worker', CLICKHOUSE_URL: storeUrl }, path.join(dir, 'worker.log'));
  ctx.state.worker = worker;
  procs.push(worker);
  // CPU of each process the flush runs through (the store's includes chdb's threads): where a row's cost lies.
  const cpuOf = () => ({ worker: cpuSeconds(worker.pid), store: cpuSeconds(store.pid), redis: cpuSeconds(ctx.redisLocal.pid!) });
  const cpu0 = cpuOf();
  const one = await drain(ctx, n, () => worker.logs());
  const cpu1 = cpuOf();
  const workerCpuS = round(cpu1.worker - cpu0.worker, 2);
  const cpuUsPerRow = Object.fromEntries(Object.entries(cpu1).map(([proc, s]) => [proc, round(((s - cpu0[proc as keyof typeof cpu0]) / n) * 1e6, 1)]));
  const stored = Number((await ctx.chRows<{ n: string }>("SELECT count() AS n FROM events WHERE account_id = 'bench'"))[0]!.n);
  const distinct = Number((await ctx.chRows<{ n: string }>("SELECT uniqExact(event_id) AS n FROM events WHERE account_id = 'bench'"))[0]!.n);
  log(`flush: 1 worker ${one.eventsPerS}/s (${n} in ${one.drainMs} ms; ${stored} stored, ${distinct} distinct; CPU µs/row ${JSON.stringify(cpuUsPerRow)})`);
  if (stored !== ctx.state.ingested || distinct !== stored)
    notes.push(`flush check: ${ctx.state.ingested} events accepted in the ingest phases, ${stored} stored, ${distinct} distinct`);

  // Baselines: the plain loop, into events (with its materialised views) and into a copy without them.
  const base = await runScript<{ rows: number; ms: number }>('baseline-flush', 'bench/baseline/flush-loop.ts', [
    JSON.stringify({
      mode: 'drain',
      redisUrl: ctx.redisLocal.url,
      stream: 'bl:flush',
      clickhouseUrl: storeUrl,
      database: 'visitor',
      batchSize: 10_000,
      intervalMs: 1000,
    }),
  ]);
  const baseRate = Math.round((base.rows / base.ms) * 1000);
  await ctx.ch('CREATE TABLE IF NOT EXISTS bench_events_plain AS events');
  const plain = await runScript<{ rows: number; ms: number }>('baseline-flush-plain', 'bench/baseline/flush-loop.ts', [
    JSON.stringify({
      mode: 'drain',
      redisUrl: ctx.redisLocal.url,
      stream: 'bl:flush-plain',
      clickhouseUrl: storeUrl,
      database: 'visitor',
      batchSize: 10_000,
      intervalMs: 1000,
      table: 'bench_events_plain',
    }),
  ]);
  const plainRate = Math.round((plain.rows / plain.ms) * 1000);
  await ctx.ch('DROP TABLE IF EXISTS bench_events_plain');
  log(`flush: baseline ${baseRate}/s (${plainRate}/s into a table without materialised views)`);
  figures.push(
    figure({
      id: 'flush',
      name: 'Flush: events/s into chdb, one worker process (inserts through the store over HTTP)',
      unit: 'events/s',
      better: 'higher',
      service: one.eventsPerS,
      baseline: baseRate,
      baselineIs: flushBaselineIs,
      target: { op: '>=', value: TARGETS.flush },
      note: `the 5 materialised views on events fill on every insert; the same loop into a copy of events without them: ${plainRate.toLocaleString('en-US')} events/s`,
      detail: {
        ...one,
        workerCpuS,
        cpuUsPerRow,
        storedExactlyOnce: stored === ctx.state.ingested && distinct === stored,
        acceptedInIngestPhases: ctx.state.ingested,
        stored,
        baseline: base,
        baselineWithoutViewsEventsPerS: plainRate,
      },
    }),
  );
  figures.push(
    figure({
      id: 'flush-vs-loop',
      name: 'Flush: one worker over the plain insert loop, same rows, same store, same run',
      unit: '×',
      better: 'higher',
      service: baseRate ? round(one.eventsPerS / baseRate, 2) : null,
      baseline: null,
      baselineIs: flushBaselineIs,
      target: { op: '>=', value: 2 },
    }),
  );
  await ctx.retire(worker);

  // 2. Two worker processes sharing the stream (the scale-out shape).
  await copyRows(ctx, 'copy:flush', [[streamBench, 'bench-2w']]);
  const two = await Promise.all(
    [1, 2].map((i) => startService(`worker-${i}`, { ...common, ROLES: 'worker', CLICKHOUSE_URL: storeUrl }, path.join(dir, `worker-${i}.log`))),
  );
  procs.push(...two);
  const both = await drain(ctx, n, () => [...two[0]!.logs(), ...two[1]!.logs()]);
  log(`flush: 2 workers ${both.eventsPerS}/s`);
  figures.push(
    figure({
      id: 'flush-2-workers',
      name: 'Flush: events/s into chdb, two worker processes sharing the stream',
      unit: 'events/s',
      better: 'higher',
      service: both.eventsPerS,
      baseline: baseRate,
      baselineIs: 'the single plain insert loop above',
      target: { op: '>=', value: TARGETS.flush },
      detail: { ...both, perWorkerBatches: two.map((w) => w.logs().filter((l) => String(l.msg).startsWith('[flush] rows=')).length) },
    }),
  );
  for (const w of two) await ctx.retire(w);

  // 3. The single-process shape (`npm start`): the worker inside the process that owns chdb, no HTTP hop.
  await ctx.retire(store);
  await copyRows(ctx, 'copy:flush', [[streamBench, 'bench-1p']]);
  await redis.del('copy:flush');
  const storeWorker = await startService(
    'store+worker',
    { ...common, ROLES: 'store,worker', STORE_PORT: String(new URL(storeUrl).port) },
    path.join(dir, 'store-worker.log'),
  );
  ctx.state.storeWorker = storeWorker;
  procs.push(storeWorker);
  ctx.watch(storeWorker);
  const single = await drain(ctx, n, () => storeWorker.logs());
  log(`flush: single process ${single.eventsPerS}/s`);
  figures.push(
    figure({
      id: 'flush-single-process',
      name: 'Flush: events/s into chdb, worker inside the store process (npm start shape)',
      unit: 'events/s',
      better: 'higher',
      service: single.eventsPerS,
      baseline: baseRate,
      baselineIs: 'the plain insert loop above (through the store over HTTP)',
      target: { op: '>=', value: TARGETS.flush },
      note: 'no HTTP hop, but the flusher and the engine share one process',
      detail: { ...single },
    }),
  );
}
