/**
 * Phase `e2e-latency`: beacon → ClickHouse latency at a fixed rate (each event's send time
 * against the first query answer that holds it), beside the ingest baseline followed by a plain
 * insert loop. Starts a worker if the flush phase left none.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/adapters/redis/launcher.js';
import type { BenchContext } from '../lib/context.js';
import { startScript, startService, waitForLine } from '../lib/proc.js';
import { figure, percentile, round } from '../lib/report.js';
import { readSends } from '../lib/sends.js';

async function measure(
  ctx: BenchContext,
  port: number,
  account: string,
): Promise<{ p50: number; p99: number; seen: number; sent: number; status: Record<string, number> }> {
  const { S, dir } = ctx;
  const sendsFile = path.join(dir, `sends-${account}.txt`);
  const seenAt = new Map<string, number>();
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const t = Date.now();
      const ids = await ctx.chRows<{ id: string }>('SELECT toString(event_id) AS id FROM events WHERE account_id = {a:String}', { a: account });
      const now = Date.now();
      // The moment of the query's answer, less half its run time: the best estimate of when it read.
      for (const { id } of ids) if (!seenAt.has(id)) seenAt.set(id, (t + now) / 2);
      await sleep(Math.max(0, 25 - (Date.now() - t)));
    }
  })();
  const res = await ctx.load({
    port,
    connections: 64,
    pipeline: 1,
    durationMs: S.e2eMs,
    rate: S.e2eRate,
    recordSendsTo: sendsFile,
    request: { kind: 'event', path: '/v/event', account, clientIps: 1000, sessions: 1000 },
  });
  const sends = readSends(sendsFile);
  const until = Date.now() + 15_000;
  while (Date.now() < until && [...sends.keys()].some((id) => !seenAt.has(id))) await sleep(100);
  polling = false;
  await poller;
  const lat = [...sends].filter(([id]) => seenAt.has(id)).map(([id, at]) => seenAt.get(id)! - at);
  return { p50: round(percentile(lat, 50)), p99: round(percentile(lat, 99)), seen: lat.length, sent: sends.size, status: res.status };
}

export async function e2eLatency(ctx: BenchContext): Promise<void> {
  const { S, common, storeUrl, dir, procs, gwPort, figures, log } = ctx;
  if (!ctx.state.storeWorker && !ctx.state.worker) {
    ctx.state.worker = await startService('worker', { ...common, ROLES: 'worker', CLICKHOUSE_URL: storeUrl }, path.join(dir, 'worker.log'));
    procs.push(ctx.state.worker);
  }
  const svc = await measure(ctx, gwPort, 'bench-lat');
  log(`e2e: service p50 ${svc.p50} ms p99 ${svc.p99} ms (${svc.seen}/${svc.sent})`);
  const blPort = await freePort();
  const blServer = startScript('baseline-ingest-lat', 'bench/baseline/ingest-server.ts', [String(blPort), ctx.redisLocal.url, 'bl:lat']);
  procs.push(blServer);
  await waitForLine(blServer, /^listening/);
  const blFlush = startScript('baseline-flush-follow', 'bench/baseline/flush-loop.ts', [
    JSON.stringify({
      mode: 'follow',
      redisUrl: ctx.redisLocal.url,
      stream: 'bl:lat',
      clickhouseUrl: storeUrl,
      database: 'visitor',
      batchSize: 10_000,
      intervalMs: 1000,
    }),
  ]);
  procs.push(blFlush);
  await waitForLine(blFlush, /^following/);
  const base = await measure(ctx, blPort, 'bench-lat-bl');
  log(`e2e: baseline p50 ${base.p50} ms p99 ${base.p99} ms`);
  await blFlush.stop();
  await blServer.stop();
  const detail = { rate: S.e2eRate, seconds: S.e2eMs / 1000, service: svc, baseline: base, flushIntervalMs: 1000, pollEveryMs: 25 };
  const shape = {
    unit: 'ms',
    better: 'lower' as const,
    baselineIs: 'the ingest baseline + a plain loop reading the stream and inserting batches by the same rule (10,000 rows or 1 s)',
    note: `the service flushes a batch at 50,000 events (FLUSH_BATCH_SIZE default), the baseline at 10,000, or when its oldest is 1 s old (FLUSH_INTERVAL_MS default); at ${S.e2eRate} events/s the age decides`,
    detail,
  };
  figures.push(figure({ id: 'e2e-p50', name: `Beacon → ClickHouse latency p50 at ${S.e2eRate} events/s`, service: svc.p50, baseline: base.p50, ...shape }));
  figures.push(figure({ id: 'e2e-p99', name: `Beacon → ClickHouse latency p99 at ${S.e2eRate} events/s`, service: svc.p99, baseline: base.p99, ...shape }));
}
