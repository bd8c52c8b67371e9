/**
 * Phases `ingest-single` and `ingest-batch`: events/s the gateway accepts into Redis under wrk,
 * beside the node:http + ioredis baseline (bench/baseline/ingest-server.ts) and the bare uWS
 * ceiling (bench/baseline/bare-uws.ts) in the same run; then the gateway's peak memory under
 * that load.
 */
import { freePort } from '../../src/adapters/redis/launcher.js';
import type { BenchContext } from '../lib/context.js';
import type { PhaseRun } from '../lib/phase.js';
import { startScript, treeCpuSeconds, waitForLine } from '../lib/proc.js';
import { figure, round } from '../lib/report.js';
import { ensureWrk, runWrk, type WrkResult } from '../lib/wrk.js';

interface IngestRun {
  eventsPerS: number;
  res: WrkResult;
  cpuUsPerEvent: number;
  inStream: number;
}

/** wrk against one server: a warm-up run, then the measured one (CPU of the process tree, events answered 2xx). */
async function ingestRun(ctx: BenchContext, port: number, pid: number, batch: boolean, stream?: string): Promise<IngestRun> {
  const { S, redis } = ctx;
  const spec = { port, connections: S.connections, batch: batch ? 20 : 1, account: 'bench', sessions: 20_000, clientIps: 5000 };
  await runWrk({ ...spec, durationS: S.warmupMs / 1000 });
  const before = stream ? await redis.xlen(stream) : 0;
  const cpu0 = treeCpuSeconds(pid);
  const res = await runWrk({ ...spec, durationS: (S.ingestMs - S.warmupMs) / 1000 });
  const cpu = Math.max(0, treeCpuSeconds(pid) - cpu0);
  const ok = (res.requests - res.non2xx) * spec.batch;
  const inStream = stream ? (await redis.xlen(stream)) - before : 0;
  return { eventsPerS: Math.round(ok / res.durationS), res, cpuUsPerEvent: ok ? round((cpu / ok) * 1e6, 1) : 0, inStream };
}

function ingestFigure(
  ctx: BenchContext,
  id: string,
  name: string,
  svc: IngestRun | undefined,
  base: IngestRun | undefined,
  bare: IngestRun | undefined,
  target?: number,
): void {
  const { S, figures } = ctx;
  figures.push(
    figure({
      id,
      name,
      unit: 'events/s',
      better: 'higher',
      service: svc ? svc.eventsPerS : null,
      baseline: base ? base.eventsPerS : null,
      baselineIs: 'node:http + ioredis, one XADD per event (same stream fields), 204 once Redis has it; nothing else',
      target: target ? { op: '>=', value: target } : undefined,
      detail: {
        service: svc && {
          latencyMs: svc.res.latencyMs,
          non2xx: svc.res.non2xx,
          socketErrors: svc.res.socketErrors,
          cpuUsPerEvent: svc.cpuUsPerEvent,
          eventsInStream: svc.inStream,
        },
        baseline: base && { latencyMs: base.res.latencyMs, non2xx: base.res.non2xx, cpuUsPerEvent: base.cpuUsPerEvent },
        bareUws: bare && { eventsPerS: bare.eventsPerS, latencyMs: bare.res.latencyMs, cpuUsPerEvent: bare.cpuUsPerEvent },
        connections: S.connections,
        measuredS: svc?.res.durationS,
      },
    }),
  );
  if (svc && bare) {
    figures.push(
      figure({
        id: `${id}-ceiling`,
        name: `${name}: beside the ceiling (bare uWS)`,
        unit: 'events/s',
        better: 'higher',
        service: svc.eventsPerS,
        baseline: bare.eventsPerS,
        baselineIs: 'bare uWebSockets.js on the same machine in the same run: read the body, answer 204, nothing else (no parsing, no Redis)',
      }),
    );
  }
  if (svc && base) {
    figures.push(
      figure({
        id: `${id}-cpu`,
        name: `${name}: gateway CPU per event`,
        unit: 'µs',
        better: 'lower',
        service: svc.cpuUsPerEvent,
        baseline: base.cpuUsPerEvent,
        baselineIs: 'the same baseline process',
        target: { op: '<', value: base.cpuUsPerEvent * 1.0001 },
      }),
    );
  }
}

/** Both ingest phases share the baseline and ceiling processes, started before them and stopped after. */
export async function ingest(ctx: BenchContext, run: PhaseRun): Promise<void> {
  const { redis, gateway, gwPort, streamBench, rss, figures, log, gatewayIdleRss } = ctx;
  ensureWrk(log);
  const baselineIngest = startScript('baseline-ingest', 'bench/baseline/ingest-server.ts', [String(await freePort()), ctx.redisLocal.url, 'bl:events']);
  ctx.procs.push(baselineIngest);
  const baselinePort = Number((await waitForLine(baselineIngest, /^listening/)).split(' ')[1]);
  const bareUws = startScript('bare-uws', 'bench/baseline/bare-uws.ts', [String(await freePort())]);
  ctx.procs.push(bareUws);
  const barePort = Number((await waitForLine(bareUws, /^listening/)).split(' ')[1]);
  /** The service, the plain baseline and bare uWS under one request shape, as one figure. */
  const compare = async (batch: boolean, id: string, name: string, label: string) => {
    const svc = await ingestRun(ctx, gwPort, gateway.pid, batch, streamBench);
    const base = await ingestRun(ctx, baselinePort, baselineIngest.pid, batch, 'bl:events');
    await redis.del('bl:events');
    const bare = await ingestRun(ctx, barePort, bareUws.pid, batch);
    ingestFigure(ctx, id, name, svc, base, bare, base.eventsPerS * 1.5);
    log(`${label}: service ${svc.eventsPerS}/s, baseline ${base.eventsPerS}/s, bare uWS ${bare.eventsPerS}/s`);
  };
  await run('ingest-single', () => compare(false, 'gateway-single', 'Gateway: single-event requests accepted into Redis', 'single'));
  await run('ingest-batch', async () => {
    // Room under the stream's default cap (1,000,000): past it the gateway rightly answers 503.
    if ((await redis.xlen(streamBench)) > 200_000) await redis.xtrim(streamBench, 'MAXLEN', 200_000);
    await compare(true, 'gateway-batch', 'Gateway: events accepted into Redis in batches of 20', 'batch');
  });
  ctx.state.ingested = await redis.xlen(streamBench);
  await redis.del('bl:events');
  const ingestPeak = { service: rss.peak.get(gateway.pid) ?? 0, baseline: rss.peak.get(baselineIngest.pid) ?? 0 };
  figures.push(
    figure({
      id: 'gateway-rss-ingest',
      name: 'Gateway memory (RSS), peak under ingest load',
      unit: 'MB',
      better: 'lower',
      service: ingestPeak.service || null,
      baseline: ingestPeak.baseline || null,
      baselineIs: 'the node:http + ioredis ingest baseline under the same load',
      detail: { gatewayIdleMb: gatewayIdleRss },
    }),
  );
  await baselineIngest.stop();
  await bareUws.stop();
}
