/**
 * Phase `presence`: heartbeat → WebSocket join latency with many subscribers at several heartbeat
 * rates (the figures at 5k and 20k/s, and the highest rate under the p99 target), beside a bare
 * uWebSockets.js baseline (bench/baseline/presence-server.ts); measured before any worker runs.
 */
import { randomBytes } from 'node:crypto';
import { freePort } from '../../src/adapters/redis/launcher.js';
import { TARGETS, type BenchContext } from '../lib/context.js';
import { joinLatency } from '../lib/join-latency.js';
import { startScript, waitForLine } from '../lib/proc.js';
import { figure } from '../lib/report.js';

export async function presence(ctx: BenchContext): Promise<void> {
  const { S, redis, keys, gateway, gwPort, adminKey, procs, figures, log } = ctx;
  const rates = S.heartbeatRates;
  const svcRuns = await joinLatency(
    ctx,
    `ws://127.0.0.1:${gwPort}/live?account=bench-live&key=${encodeURIComponent(adminKey['bench-live'])}`,
    gwPort,
    gateway.pid,
    'svc',
    rates,
  );
  for (const r of svcRuns)
    if (r)
      log(`join at ${r.rate}/s: service p50 ${r.p50} ms p99 ${r.p99} ms (${r.hbPerS} heartbeats/s answered, ${r.receipts} receipts, coverage ${r.coverage})`);
  const blPort = await freePort();
  const bl = startScript('baseline-presence', 'bench/baseline/presence-server.ts', [
    String(blPort),
    ctx.redisLocal.url,
    `bl:presence:${randomBytes(3).toString('hex')}`,
  ]);
  procs.push(bl);
  await waitForLine(bl, /^listening/);
  const headline = [S.heartbeatsPerS, 20_000];
  const blRuns = await joinLatency(ctx, `ws://127.0.0.1:${blPort}/live`, blPort, bl.pid, 'bl', headline);
  await bl.stop();
  for (const r of blRuns) if (r) log(`join at ${r.rate}/s: baseline p50 ${r.p50} ms p99 ${r.p99} ms`);
  /** What the service refused of a run (503 backpressure past INGEST_QUEUE_MAX_MS) and the share of joins that arrived. */
  const refusedShare = (r: (typeof svcRuns)[number]) => {
    if (!r) return '';
    const all = Object.values(r.status).reduce((a, b) => a + b, 0);
    const refused = r.status['503'] ?? 0;
    return refused ? `; refused 503: ${Math.round((100 * refused) / Math.max(1, all))} %; joins received: ${Math.round(100 * r.coverage)} %` : '';
  };
  const at = <T extends { rate: number }>(list: (T | undefined)[], rate: number) => list.find((r) => r?.rate === rate);
  /** A percentile of no receipts at all is no figure. */
  const ms = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);
  const shape = {
    unit: 'ms',
    better: 'lower' as const,
    baselineIs:
      'the same uWebSockets.js: a POST that SADDs the visitor (ioredis) and, when new, publishes a join to one uWS topic; no Lua, no pub/sub between gateways',
  };
  for (const rate of headline) {
    const svc = at(svcRuns, rate);
    const base = at(blRuns, rate);
    const note = `${S.subscribers} subscribers on one account; ${rate.toLocaleString('en-US')} heartbeats/s asked (answered: ${svc?.hbPerS.toLocaleString('en-US') ?? '—'}/s${refusedShare(svc)}) from 2,000 online visitors of another account, one in ${Math.max(S.probeEvery, Math.round(rate / 50))} from a new visitor of the watched account (its join is timed at every subscriber); measured before any worker runs`;
    const detail = { subscribers: S.subscribers, heartbeatsPerS: rate, seconds: S.presenceMs / 1000, service: svc, baseline: base };
    const label = `${S.subscribers} subscribers, ${rate.toLocaleString('en-US')} heartbeats/s`;
    const suffix = rate === S.heartbeatsPerS ? '' : `-${rate / 1000}k`;
    // The p99 carries the target; the p50 is for the record.
    for (const q of ['p50', 'p99'] as const) {
      figures.push(
        figure({
          id: `join-${q}${suffix}`,
          name: `Heartbeat → WebSocket join ${q}, ${label}`,
          service: ms(svc?.[q]),
          baseline: ms(base?.[q]),
          ...(q === 'p99' ? { target: { op: '<', value: rate === S.heartbeatsPerS ? TARGETS.joinP99 : TARGETS.joinP99At20k } } : {}),
          note,
          detail,
          ...shape,
        }),
      );
    }
  }
  // The highest rate of the steps whose p99 stays under the target, every lower step too.
  let highest = 0;
  for (const r of svcRuns) {
    if (!r || !(r.p99 < TARGETS.joinP99) || r.hbPerS < r.rate * 0.9) break;
    highest = r.hbPerS;
  }
  figures.push(
    figure({
      id: 'join-p99-highest-rate',
      name: `Highest heartbeat rate with join p99 < ${TARGETS.joinP99} ms (steps ${rates.map((r) => r.toLocaleString('en-US')).join(', ')}/s)`,
      unit: 'heartbeats/s',
      better: 'higher',
      service: highest || null,
      baseline: null,
      baselineIs: 'none (a rate the service sustains; the load generator answers for itself up to about 20,000 requests/s here)',
      detail: { steps: svcRuns.map((r) => r && { rate: r.rate, answered: r.hbPerS, p50: r.p50, p99: r.p99 }) },
    }),
  );
  const svc5 = at(svcRuns, S.heartbeatsPerS);
  const bl5 = at(blRuns, S.heartbeatsPerS);
  figures.push(
    figure({
      id: 'gateway-rss-live',
      name: `Gateway memory (RSS), peak with ${S.subscribers} live subscribers under heartbeat load`,
      unit: 'MB',
      better: 'lower',
      service: svc5?.rssPeakMb || null,
      baseline: bl5?.rssPeakMb || null,
      baselineIs: 'the presence baseline under the same load',
    }),
  );
  // Their rows are not part of the flush figures.
  await redis.del(keys.eventStream('bench-hb'), keys.eventStream('bench-live'));
}
