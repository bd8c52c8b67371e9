/**
 * Heartbeat → WebSocket join latency: a subscriber process holds many live clients on one
 * account while the load sends heartbeats at each rate, one in `probeEvery` (or more) from a new
 * visitor of that account whose join is timed at every subscriber. Used by the presence phases.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadResult } from '../load/http-load.js';
import type { BenchContext } from './context.js';
import { cpuSeconds, redisCpuSeconds, startScript, treeCpuSeconds, waitForLine } from './proc.js';
import { percentile, round } from './report.js';
import { readSends } from './sends.js';

export interface JoinRun {
  p50: number;
  p99: number;
  subscribers: number;
  probes: number;
  receipts: number;
  coverage: number;
  hbPerS: number;
  heartbeatAnswerMs: LoadResult['latencyMs'];
  /**
   * CPU cores used on average during the load: by the server under test, its Redis, the
   * subscriber process and the load generator (the last two are the harness's share of the machine).
   */
  cpuCoresUsed: { server: number; redis: number; subscribers: number; load: number };
  status: Record<string, number>;
  error?: string;
  rssPeakMb: number;
  /** Heartbeats per second asked of the load generator. */
  rate: number;
}

/**
 * Heartbeat → join latency at each rate, with one set of subscribers connected throughout:
 * every rate's probes carry their own id prefix, so one subscriber process times them all.
 */
export async function joinLatency(
  ctx: BenchContext,
  url: string,
  port: number,
  pid: number,
  tag: string,
  rates: readonly number[],
): Promise<(JoinRun | undefined)[]> {
  const { S, dir, procs, rss, notes } = ctx;
  const probePrefix = `pv${tag}${randomBytes(3).toString('hex')}`;
  const out = path.join(dir, `receipts-${tag}.txt`);
  const subs = startScript(`subscribers-${tag}`, 'bench/load/ws-subscribers.ts', [
    JSON.stringify({ url, count: S.subscribers, probePrefix, out, connectTimeoutMs: 90_000 }),
  ]);
  procs.push(subs);
  const readyLine = await waitForLine(subs, /^READY/, 120_000);
  const connected = Number(readyLine.split(' ')[1]);
  if (connected === 0) {
    await subs.stop();
    notes.push(`live feed at ${url.replace(/key=[^&]+/, 'key=…')} unavailable: ${readyLine.split(' ').slice(2).join(' ') || 'no snapshot'}`);
    return rates.map(() => undefined);
  }
  const runs: { rate: number; res: LoadResult; sendsFile: string; cpuShare: JoinRun['cpuCoresUsed']; rssPeakMb: number }[] = [];
  for (const rate of rates) {
    rss.reset();
    const sendsFile = path.join(dir, `probes-${tag}-${rate}.txt`);
    const cpuGw0 = treeCpuSeconds(pid);
    const cpuSubs0 = cpuSeconds(subs.pid);
    const cpuRedis0 = await redisCpuSeconds(ctx.redis);
    const wall0 = Date.now();
    const res = await ctx.load({
      port,
      connections: 256,
      pipeline: 1,
      durationMs: S.presenceMs,
      rate,
      recordSendsTo: sendsFile,
      warmupMs: S.warmupMs,
      request: {
        kind: 'heartbeat',
        path: '/v/event',
        account: 'bench-hb',
        probeAccount: 'bench-live',
        probeEvery: Math.max(S.probeEvery, Math.round(rate / 50)),
        probePrefix: `${probePrefix}r${rate}`,
        clientIps: 5000,
        sessions: 2000,
      },
    });
    const wallS = (Date.now() - wall0) / 1000;
    runs.push({
      rate,
      res,
      sendsFile,
      cpuShare: {
        server: round((treeCpuSeconds(pid) - cpuGw0) / wallS, 2),
        redis: round(((await redisCpuSeconds(ctx.redis)) - cpuRedis0) / wallS, 2),
        subscribers: round((cpuSeconds(subs.pid) - cpuSubs0) / wallS, 2),
        load: round(res.cpuMs / 1000 / wallS, 2),
      },
      rssPeakMb: rss.peak.get(pid) ?? 0,
    });
    // Let the last joins of this rate arrive before the next rate starts.
    await sleep(2000);
  }
  let summary = '';
  subs.child.stdout!.on('data', (d: Buffer) => (summary += d.toString()));
  await subs.stop('SIGTERM', 30_000);
  const receipts = readFileSync(out, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ') as [string, string]);
  const s = summary.split('\n').find((l) => l.startsWith('{'));
  return runs.map(({ rate, res, sendsFile, cpuShare, rssPeakMb }) => {
    const sent = readSends(sendsFile);
    // Probes of the first seconds (connections, JIT and caches warming up) are not counted.
    const from = Math.min(...sent.values()) + S.warmupMs;
    const counted = [...sent.values()].filter((t) => t >= from).length;
    const lat: number[] = [];
    for (const [id, at] of receipts) {
      const t0 = sent.get(id);
      if (t0 !== undefined && t0 >= from) lat.push(Number(at) - t0);
    }
    return {
      p50: round(percentile(lat, 50)),
      p99: round(percentile(lat, 99)),
      subscribers: connected,
      probes: counted,
      receipts: lat.length,
      coverage: round(lat.length / Math.max(1, counted * connected), 3),
      hbPerS: res.okPerS,
      heartbeatAnswerMs: res.latencyMs,
      cpuCoresUsed: cpuShare,
      status: res.status,
      error: s ? (JSON.parse(s) as { error?: string }).error : undefined,
      rssPeakMb,
      rate,
    };
  });
}
