/**
 * Phase `presence-with-worker`: the join latency of `presence` at 5,000 heartbeats/s again, now
 * with a worker flushing those heartbeats into chdb on the same cores (after the flush and e2e
 * phases).
 */
import { TARGETS, type BenchContext } from '../lib/context.js';
import { joinLatency } from '../lib/join-latency.js';
import { figure } from '../lib/report.js';

export async function presenceWithWorker(ctx: BenchContext): Promise<void> {
  const { S, gateway, gwPort, adminKey, figures, log } = ctx;
  const [svc] = await joinLatency(
    ctx,
    `ws://127.0.0.1:${gwPort}/live?account=bench-live&key=${encodeURIComponent(adminKey['bench-live'])}`,
    gwPort,
    gateway.pid,
    'svc2',
    [S.heartbeatsPerS],
  );
  if (svc) log(`join with a worker flushing: service p50 ${svc.p50} ms p99 ${svc.p99} ms (${svc.hbPerS} heartbeats/s answered)`);
  figures.push(
    figure({
      id: 'join-p99-with-worker',
      name: `Heartbeat → WebSocket join p99 as above, with a worker flushing those heartbeats into chdb on the same 2 cores`,
      unit: 'ms',
      better: 'lower',
      service: svc?.p99 ?? null,
      baseline: null,
      baselineIs: 'none (the baseline stores nothing in ClickHouse)',
      target: { op: '<', value: TARGETS.joinP99 },
      note: 'everything on one 2-core machine: gateway, Redis, the store and worker process flushing 5,000 events/s into chdb with its materialised views, the 1,000-client subscriber process and the load generator',
      detail: { service: svc },
    }),
  );
}
