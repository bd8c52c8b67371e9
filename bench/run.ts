/**
 * `npm run bench`: the service's figures under load, each beside a plain baseline measured in
 * the same run, written to `bench/results/latest.json` and `bench/results/latest.md`.
 *
 * Shape: a private redis-server; the service as separate processes with one role each (store:
 * chdb served over ClickHouse's HTTP interface; gateway; worker), started with
 * `node --import tsx src/main.ts`, LOG_LEVEL=info and otherwise default settings (TRUST_PROXY
 * on, as behind a load balancer, so the load can come from many client addresses); load from
 * separate processes on loopback (bench/load/). Bounded: every phase has a fixed duration or
 * count, and the whole run a deadline (phases that would pass it are skipped and say so).
 *
 * `npm run bench -- --quick` is a short smoke run written to `test-results/bench-quick.*`;
 * `--only=flush,queries` runs some phases (to `test-results/bench-partial.*`);
 * `--keep` keeps the temp directory (logs) for inspection.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { sha256Hex } from '../src/accounts.js';
import { freePort, startLocalRedis, type LocalRedis } from '../src/adapters/redis/launcher.js';
import { RedisKeys, FLUSH_GROUP } from '../src/adapters/redis/keys.js';
import { createLogger } from '../src/logger.js';
import type { LoadResult, LoadSpec } from './load/http-load.js';
import { cpuSeconds, machineCpu, REPO, rssMb, RssSampler, runScript, startScript, startService, treeCpuSeconds, waitForLine, type Proc, type ServiceProc } from './lib/proc.js';
import { ensureWrk, runWrk, type WrkResult } from './lib/wrk.js';
import { figure, percentile, renderMarkdown, round, type BenchResult, type Figure } from './lib/report.js';

const QUICK = process.argv.includes('--quick');
/** `--only=presence,queries`: run just these phases (for iterating on one figure). */
const ONLY = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const KEEP = process.argv.includes('--keep');
const started = Date.now();
const loadStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
/** The whole run stops starting phases after this. */
const DEADLINE = started + (QUICK ? 4 : 9.5) * 60_000;
const S = {
  ingestMs: QUICK ? 4000 : 10_000,
  warmupMs: QUICK ? 1000 : 2000,
  /** wrk connections of the ingest runs (as in issue 12's table). */
  connections: 64,
  /** Events in the stream when the flush is timed (at most). */
  flushEvents: QUICK ? 100_000 : 300_000,
  e2eRate: 500,
  e2eMs: QUICK ? 4000 : 10_000,
  subscribers: QUICK ? 200 : 1000,
  heartbeatsPerS: 5000,
  /** Heartbeat rates of the presence phase: the figures at 5k and 20k/s, and the steps for the highest rate under the p99 target. */
  heartbeatRates: QUICK ? [5000, 20_000] : [2500, 5000, 10_000, 15_000, 20_000],
  /** One heartbeat in this many is a new visitor whose join is timed. */
  probeEvery: 100,
  presenceMs: QUICK ? 5000 : 10_000,
  queryEvents: QUICK ? 1_000_000 : 10_000_000,
  queryChunk: 1_000_000,
  queryRuns: QUICK ? 5 : 15,
};

const TARGETS = {
  flush: 100_000,
  joinP99: 50,
  joinP99At20k: 250,
  query: 300,
};

function log(msg: string): void {
  process.stdout.write(`[bench +${Math.round((Date.now() - started) / 1000)}s] ${msg}\n`);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'visitor-bench-'));
const procs: Proc[] = [];
let redisLocal: LocalRedis | undefined;
const figures: Figure[] = [];
const notes: string[] = [];
const contention: Record<string, number> = {};

async function cleanup(): Promise<void> {
  for (const p of procs.reverse()) {
    stopping.add(p);
    await p.stop().catch(() => undefined);
  }
  await redisLocal?.stop();
  if (!KEEP) rmSync(dir, { recursive: true, force: true });
  else log(`kept ${dir}`);
}

process.on('SIGINT', () => {
  void cleanup().then(() => process.exit(130));
});

// ---------------------------------------------------------------------------------------------
// Setup

const keys = new RedisKeys('v');
const ACCOUNTS = ['bench', 'bench-lat', 'bench-hb', 'bench-live', 'bench-q'] as const;
const adminKey = Object.fromEntries(ACCOUNTS.map((a) => [a, randomBytes(18).toString('base64url')])) as Record<(typeof ACCOUNTS)[number], string>;
const accountsFile = path.join(dir, 'accounts.json');
writeFileSync(
  accountsFile,
  JSON.stringify({
    accounts: ACCOUNTS.map((id) => ({ id, origins: ['http://localhost:*'], adminKeySha256: [sha256Hex(adminKey[id])], listingUrl: 'http://localhost/listings/{slug}' })),
  }),
);

redisLocal = await startLocalRedis(path.join(dir, 'redis'), createLogger('silent'));
const redis = new Redis(redisLocal.url);
const common: Record<string, string> = {
  DATA_DIR: path.join(dir, 'data'),
  ACCOUNTS_FILE: accountsFile,
  REDIS_URL: redisLocal.url,
  LOG_LEVEL: 'info',
  HOST: '127.0.0.1',
  TRUST_PROXY: 'true',
  CLICKHOUSE_DATABASE: 'visitor',
};
log(`setup in ${dir}`);
const store = await startService('store', { ...common, ROLES: 'store', STORE_PORT: String(await freePort()) }, path.join(dir, 'store.log'));
procs.push(store);
const storeUrl = store.storeUrl!;
const gateway = await startService('gateway', { ...common, ROLES: 'gateway', PORT: String(await freePort()), CLICKHOUSE_URL: storeUrl }, path.join(dir, 'gateway.log'));
procs.push(gateway);
const gwPort = Number(new URL(gateway.url!).port);
/** Set when a service process dies under the bench (not stopped by it): later phases are skipped. */
let lostProcess: string | undefined;
function watch(p: ServiceProc): void {
  void p.exited.then((code) => {
    if (!stopping.has(p)) {
      lostProcess ??= `${p.name} exited (${code}) during the run`;
      log(`!! ${lostProcess}`);
    }
  });
}
const stopping = new Set<Proc>();
watch(store);
watch(gateway);
const gatewayIdleRss = rssMb(gateway.pid);
const rss = new RssSampler(() => procs.map((p) => p.pid)).start();
log(`store ${storeUrl}, gateway ${gateway.url} (idle RSS ${gatewayIdleRss} MB)`);

/** A query against the store's ClickHouse HTTP interface. */
async function ch(sql: string, params: Record<string, string | number> = {}): Promise<string> {
  const u = new URL(storeUrl);
  u.searchParams.set('database', 'visitor');
  u.searchParams.set('default_format', 'JSONEachRow');
  for (const [k, v] of Object.entries(params)) u.searchParams.set(`param_${k}`, String(v));
  // fetch refuses a URL with userinfo: the store's credential goes as basic auth instead.
  const auth = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
  u.username = '';
  u.password = '';
  const res = await fetch(u, { method: 'POST', body: sql, headers: { authorization: auth } });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse ${res.status}: ${text.slice(0, 500)}`);
  return text;
}

async function chRows<T>(sql: string, params: Record<string, string | number> = {}): Promise<T[]> {
  return (await ch(sql, params))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

function load(spec: Omit<LoadSpec, 'host'>): Promise<LoadResult> {
  return runScript<LoadResult>('load', 'bench/load/http-load.ts', [JSON.stringify({ host: '127.0.0.1', ...spec })]);
}

/** CPU seconds of the harness and every child it has waited for (the load processes). */
function selfCpu(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
}

/** Redis time per command so far (from INFO commandstats), to say where Redis spent a phase. */
async function redisCommandUsec(): Promise<Map<string, { calls: number; usec: number }>> {
  const out = new Map<string, { calls: number; usec: number }>();
  for (const line of ((await redis.info('commandstats')) as string).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

/** Per phase: the Redis commands that took most of its time (the scripts are `evalsha`). */
const redisTop: Record<string, { command: string; calls: number; ms: number; usPerCall: number }[]> = {};

/** Measure how much CPU other processes (not this bench) used during `fn`. */
async function phase<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
  if (ONLY && !ONLY.includes(name)) return undefined;
  if (lostProcess) {
    notes.push(`phase ${name} skipped: ${lostProcess}`);
    log(`skip ${name} (${lostProcess})`);
    return undefined;
  }
  if (Date.now() > DEADLINE) {
    notes.push(`phase ${name} skipped: the run passed its deadline`);
    log(`skip ${name} (deadline)`);
    return undefined;
  }
  log(`phase ${name}`);
  const pids = () => [...procs.map((p) => p.pid), redisLocal!.pid!];
  const ours0 = pids().reduce((n, pid) => n + cpuSeconds(pid), 0) + selfCpu();
  const m0 = machineCpu();
  const r0 = await redisCommandUsec();
  try {
    return await fn();
  } catch (err) {
    log(`phase ${name} failed: ${(err as Error).stack ?? String(err)}`);
    notes.push(`phase ${name} failed: ${(err as Error).message}`);
    return undefined;
  } finally {
    const m1 = machineCpu();
    const ours = pids().reduce((n, pid) => n + cpuSeconds(pid), 0) + selfCpu() - ours0;
    const total = m1.total - m0.total;
    if (total > 0) contention[name] = round(Math.max(0, (m1.busy - m0.busy - ours) / total), 2);
    log(`phase ${name}: machine busy ${round(m1.busy - m0.busy)} CPU-s of ${round(total)}, this bench ${round(ours)} CPU-s`);
    const r1 = await redisCommandUsec().catch(() => new Map<string, { calls: number; usec: number }>());
    redisTop[name] = [...r1]
      .map(([command, v]) => ({ command, calls: v.calls - (r0.get(command)?.calls ?? 0), usec: v.usec - (r0.get(command)?.usec ?? 0) }))
      .filter((x) => x.calls > 0)
      .sort((a, b) => b.usec - a.usec)
      .slice(0, 5)
      .map((x) => ({ command: x.command, calls: x.calls, ms: Math.round(x.usec / 1000), usPerCall: round(x.usec / x.calls, 1) }));
  }
}

// ---------------------------------------------------------------------------------------------
// Gateway: events/s accepted into Redis

ensureWrk(log);
const baselineIngest = startScript('baseline-ingest', 'bench/baseline/ingest-server.ts', [String(await freePort()), redisLocal.url, 'bl:events']);
procs.push(baselineIngest);
const baselinePort = Number((await waitForLine(baselineIngest, /^listening/)).split(' ')[1]);
const bareUws = startScript('bare-uws', 'bench/baseline/bare-uws.ts', [String(await freePort())]);
procs.push(bareUws);
const barePort = Number((await waitForLine(bareUws, /^listening/)).split(' ')[1]);

interface IngestRun {
  eventsPerS: number;
  res: WrkResult;
  cpuUsPerEvent: number;
  inStream: number;
}

/** wrk against one server: a warm-up run, then the measured one (CPU of the process tree, events answered 2xx). */
async function ingestRun(port: number, pid: number, batch: boolean, stream?: string): Promise<IngestRun> {
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

function ingestFigure(id: string, name: string, svc: IngestRun | undefined, base: IngestRun | undefined, bare: IngestRun | undefined, target?: number): void {
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
        service: svc && { latencyMs: svc.res.latencyMs, non2xx: svc.res.non2xx, socketErrors: svc.res.socketErrors, cpuUsPerEvent: svc.cpuUsPerEvent, eventsInStream: svc.inStream },
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

const streamBench = keys.eventStream('bench');
let ingested = 0;
await phase('ingest-single', async () => {
  const svc = await ingestRun(gwPort, gateway.pid, false, streamBench);
  const base = await ingestRun(baselinePort, baselineIngest.pid, false, 'bl:events');
  await redis.del('bl:events');
  const bare = await ingestRun(barePort, bareUws.pid, false);
  ingestFigure('gateway-single', 'Gateway: single-event requests accepted into Redis', svc, base, bare, base.eventsPerS * 1.5);
  log(`single: service ${svc.eventsPerS}/s, baseline ${base.eventsPerS}/s, bare uWS ${bare.eventsPerS}/s`);
});
await phase('ingest-batch', async () => {
  // Room under the stream's default cap (1,000,000): past it the gateway rightly answers 503.
  if ((await redis.xlen(streamBench)) > 200_000) await redis.xtrim(streamBench, 'MAXLEN', 200_000);
  const svc = await ingestRun(gwPort, gateway.pid, true, streamBench);
  const base = await ingestRun(baselinePort, baselineIngest.pid, true, 'bl:events');
  await redis.del('bl:events');
  const bare = await ingestRun(barePort, bareUws.pid, true);
  ingestFigure('gateway-batch', 'Gateway: events accepted into Redis in batches of 20', svc, base, bare, base.eventsPerS * 1.5);
  log(`batch: service ${svc.eventsPerS}/s, baseline ${base.eventsPerS}/s, bare uWS ${bare.eventsPerS}/s`);
});
ingested = await redis.xlen(streamBench);
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

// ---------------------------------------------------------------------------------------------
// Heartbeat → WebSocket join latency with many subscribers

interface JoinRun {
  p50: number;
  p99: number;
  subscribers: number;
  probes: number;
  receipts: number;
  coverage: number;
  hbPerS: number;
  heartbeatAnswerMs: LoadResult['latencyMs'];
  /** CPU cores used on average during the load by the server under test and by the subscriber process. */
  cpuCoresUsed: { server: number; subscribers: number };
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
async function joinLatency(url: string, port: number, pid: number, tag: string, rates: readonly number[]): Promise<(JoinRun | undefined)[]> {
  const probePrefix = `pv${tag}${randomBytes(3).toString('hex')}`;
  const out = path.join(dir, `receipts-${tag}.txt`);
  const subs = startScript(`subscribers-${tag}`, 'bench/load/ws-subscribers.ts', [JSON.stringify({ url, count: S.subscribers, probePrefix, out, connectTimeoutMs: 90_000 })]);
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
    const wall0 = Date.now();
    const res = await load({
      port,
      connections: 256,
      pipeline: 1,
      durationMs: S.presenceMs,
      rate,
      recordSendsTo: sendsFile,
      warmupMs: S.warmupMs,
      request: { kind: 'heartbeat', path: '/v/event', account: 'bench-hb', probeAccount: 'bench-live', probeEvery: Math.max(S.probeEvery, Math.round(rate / 50)), probePrefix: `${probePrefix}r${rate}`, clientIps: 5000, sessions: 2000 },
    });
    const wallS = (Date.now() - wall0) / 1000;
    runs.push({
      rate,
      res,
      sendsFile,
      cpuShare: { server: round((treeCpuSeconds(pid) - cpuGw0) / wallS, 2), subscribers: round((cpuSeconds(subs.pid) - cpuSubs0) / wallS, 2) },
      rssPeakMb: rss.peak.get(pid) ?? 0,
    });
    // Let the last joins of this rate arrive before the next rate starts.
    await sleep(2000);
  }
  let summary = '';
  subs.child.stdout!.on('data', (d: Buffer) => (summary += d.toString()));
  await subs.stop('SIGTERM', 30_000);
  const receipts = readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]);
  const s = summary.split('\n').find((l) => l.startsWith('{'));
  return runs.map(({ rate, res, sendsFile, cpuShare, rssPeakMb }) => {
    const sent = new Map(
      readFileSync(sendsFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [id, at] = l.split(' ');
          return [id!, Number(at)] as const;
        }),
    );
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

await phase('presence', async () => {
  const rates = S.heartbeatRates;
  const svcRuns = await joinLatency(`ws://127.0.0.1:${gwPort}/live?account=bench-live&key=${encodeURIComponent(adminKey['bench-live'])}`, gwPort, gateway.pid, 'svc', rates);
  for (const r of svcRuns) if (r) log(`join at ${r.rate}/s: service p50 ${r.p50} ms p99 ${r.p99} ms (${r.hbPerS} heartbeats/s answered, ${r.receipts} receipts, coverage ${r.coverage})`);
  const blPort = await freePort();
  const bl = startScript('baseline-presence', 'bench/baseline/presence-server.ts', [String(blPort), redisLocal!.url, `bl:presence:${randomBytes(3).toString('hex')}`]);
  procs.push(bl);
  await waitForLine(bl, /^listening/);
  const headline = [S.heartbeatsPerS, 20_000];
  const blRuns = await joinLatency(`ws://127.0.0.1:${blPort}/live`, blPort, bl.pid, 'bl', headline);
  await bl.stop();
  for (const r of blRuns) if (r) log(`join at ${r.rate}/s: baseline p50 ${r.p50} ms p99 ${r.p99} ms`);
  const at = <T extends { rate: number }>(list: (T | undefined)[], rate: number) => list.find((r) => r?.rate === rate);
  /** A percentile of no receipts at all is no figure. */
  const ms = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);
  const shape = {
    unit: 'ms',
    better: 'lower' as const,
    baselineIs: 'the same uWebSockets.js: a POST that SADDs the visitor (ioredis) and, when new, publishes a join to one uWS topic; no Lua, no pub/sub between gateways',
  };
  for (const rate of headline) {
    const svc = at(svcRuns, rate);
    const base = at(blRuns, rate);
    const note = `${S.subscribers} subscribers on one account; ${rate.toLocaleString('en-US')} heartbeats/s asked (answered: ${svc?.hbPerS.toLocaleString('en-US') ?? '—'}/s) from 2,000 online visitors of another account, one in ${Math.max(S.probeEvery, Math.round(rate / 50))} from a new visitor of the watched account (its join is timed at every subscriber); measured before any worker runs`;
    const detail = { subscribers: S.subscribers, heartbeatsPerS: rate, seconds: S.presenceMs / 1000, service: svc, baseline: base };
    const label = `${S.subscribers} subscribers, ${rate.toLocaleString('en-US')} heartbeats/s`;
    const suffix = rate === S.heartbeatsPerS ? '' : `-${rate / 1000}k`;
    figures.push(figure({ id: `join-p50${suffix}`, name: `Heartbeat → WebSocket join p50, ${label}`, service: ms(svc?.p50), baseline: ms(base?.p50), note, detail, ...shape }));
    figures.push(
      figure({
        id: `join-p99${suffix}`,
        name: `Heartbeat → WebSocket join p99, ${label}`,
        service: ms(svc?.p99),
        baseline: ms(base?.p99),
        target: { op: '<', value: rate === S.heartbeatsPerS ? TARGETS.joinP99 : TARGETS.joinP99At20k },
        note,
        detail,
        ...shape,
      }),
    );
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
});

// ---------------------------------------------------------------------------------------------
// Flush: events/s from the stream into ClickHouse

/** Copy the rows of one stream into others, rewriting the account (another account's rows, same bytes otherwise). */
async function copyRows(from: string, to: [key: string, account: string][]): Promise<number> {
  let n = 0;
  for (let cursor = '-'; ; ) {
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
async function drain(events: number, logs: () => Record<string, unknown>[]): Promise<Drain> {
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
  const lines = logs().filter((l) => String(l.msg).startsWith('[flush] rows=') && Number((l.tables as Record<string, number> | undefined)?.events ?? 0) > 0);
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
  "the plain insert loop the flusher was before (each row parsed, the client serialising it again, batches of 10,000) from a stream through the store, XDEL after each; no consumer group, ack, replay check, filters or log";

let worker: ServiceProc | undefined;
/** After the flush phase the store runs the worker role too (the single-process shape). */
let storeWorker: ServiceProc | undefined;
/**
 * Rows as the gateway stores them (the ingest phases' shape: pageviews of 20,000 sessions, one
 * visitor each), for a flush run without the ingest phases (`--only=flush`).
 */
async function seedStream(stream: string, account: string, count: number): Promise<number> {
  const now = Date.now();
  for (let i = 0; i < count; i += 10_000) {
    const pipe = redis.pipeline();
    for (let j = i; j < Math.min(count, i + 10_000); j++) {
      const s = String((j * 7919) % 20_000).padStart(7, '0');
      const at = new Date(now - (count - j)).toISOString().replace('T', ' ').replace('Z', '');
      const path = `/listings/${(j * 7919) % 500}-high-st`;
      pipe.xadd(stream, '*', 't', 'events', 'r', JSON.stringify({
        account_id: account, event_id: randomUUID(), ts: at, received_at: at, type: 'pageview', session_id: `s-${s}`, visitor_id: `v-${s}`,
        person_id: '', path, url: `https://bench.example${path}?utm_medium=email`, title: '12 High Street, a two-bedroom flat',
        referrer: 'https://www.google.com/', label: '', depth: 0, dwell_ms: 0, listing: '', rec_id: '', segment: '', props: '',
        ua_family: 'Chrome', device: 'desktop', referrer_host: 'www.google.com', channel: 'email', country: '', ip_hash: 'a1b2c3d4e5f60718',
      }));
    }
    await pipe.exec();
  }
  return count;
}

await phase('flush', async () => {
  let n = await redis.xlen(streamBench);
  if (n === 0 && ONLY) {
    ingested = await seedStream(streamBench, 'bench', S.flushEvents);
    n = ingested;
    notes.push(`flush: the ingest phases did not run; ${n.toLocaleString('en-US')} rows in the gateway's stored form were written to the stream`);
  }
  if (n === 0) throw new Error('no events in the stream: the ingest phases did not run');
  if (n > S.flushEvents) {
    await redis.xtrim(streamBench, 'MAXLEN', S.flushEvents);
    n = await redis.xlen(streamBench);
  }
  // The baselines get the same rows (as another account) in their own streams; a copy is kept for the later runs.
  await copyRows(streamBench, [
    ['bl:flush', 'bench-bl'],
    ['bl:flush-plain', 'bench-bl'],
    ['copy:flush', 'bench-copy'],
  ]);

  // 1. One worker process, inserting through the store over HTTP.
  log(`flush: ${n} events waiting; starting a worker`);
  worker = await startService('worker', { ...common, ROLES: 'worker', CLICKHOUSE_URL: storeUrl }, path.join(dir, 'worker.log'));
  procs.push(worker);
  const cpu0 = cpuSeconds(worker.pid);
  const one = await drain(n, () => worker!.logs());
  const workerCpuS = round(cpuSeconds(worker.pid) - cpu0, 2);
  const stored = Number((await chRows<{ n: string }>("SELECT count() AS n FROM events WHERE account_id = 'bench'"))[0]!.n);
  const distinct = Number((await chRows<{ n: string }>("SELECT uniqExact(event_id) AS n FROM events WHERE account_id = 'bench'"))[0]!.n);
  log(`flush: 1 worker ${one.eventsPerS}/s (${n} in ${one.drainMs} ms; ${stored} stored, ${distinct} distinct)`);
  if (stored !== ingested || distinct !== stored) notes.push(`flush check: ${ingested} events accepted in the ingest phases, ${stored} stored, ${distinct} distinct`);

  // Baselines: the plain loop, into events (with its materialised views) and into a copy without them.
  const base = await runScript<{ rows: number; ms: number }>('baseline-flush', 'bench/baseline/flush-loop.ts', [
    JSON.stringify({ mode: 'drain', redisUrl: redisLocal!.url, stream: 'bl:flush', clickhouseUrl: storeUrl, database: 'visitor', batchSize: 10_000, intervalMs: 1000 }),
  ]);
  const baseRate = Math.round((base.rows / base.ms) * 1000);
  await ch('CREATE TABLE IF NOT EXISTS bench_events_plain AS events');
  const plain = await runScript<{ rows: number; ms: number }>('baseline-flush-plain', 'bench/baseline/flush-loop.ts', [
    JSON.stringify({ mode: 'drain', redisUrl: redisLocal!.url, stream: 'bl:flush-plain', clickhouseUrl: storeUrl, database: 'visitor', batchSize: 10_000, intervalMs: 1000, table: 'bench_events_plain' }),
  ]);
  const plainRate = Math.round((plain.rows / plain.ms) * 1000);
  await ch('DROP TABLE IF EXISTS bench_events_plain');
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
      detail: { ...one, workerCpuS, storedExactlyOnce: stored === ingested && distinct === stored, acceptedInIngestPhases: ingested, stored, baseline: base, baselineWithoutViewsEventsPerS: plainRate },
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
  await worker.stop();
  procs.splice(procs.indexOf(worker), 1);

  // 2. Two worker processes sharing the stream (the scale-out shape).
  await copyRows('copy:flush', [[streamBench, 'bench-2w']]);
  const two = await Promise.all([1, 2].map((i) => startService(`worker-${i}`, { ...common, ROLES: 'worker', CLICKHOUSE_URL: storeUrl }, path.join(dir, `worker-${i}.log`))));
  procs.push(...two);
  const both = await drain(n, () => [...two[0]!.logs(), ...two[1]!.logs()]);
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
  for (const w of two) {
    await w.stop();
    procs.splice(procs.indexOf(w), 1);
  }

  // 3. The single-process shape (`npm start`): the worker inside the process that owns chdb, no HTTP hop.
  stopping.add(store);
  await store.stop();
  procs.splice(procs.indexOf(store), 1);
  await copyRows('copy:flush', [[streamBench, 'bench-1p']]);
  await redis.del('copy:flush');
  storeWorker = await startService('store+worker', { ...common, ROLES: 'store,worker', STORE_PORT: String(new URL(storeUrl).port) }, path.join(dir, 'store-worker.log'));
  procs.push(storeWorker);
  watch(storeWorker);
  const single = await drain(n, () => storeWorker!.logs());
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
});

// ---------------------------------------------------------------------------------------------
// Beacon → ClickHouse latency at a fixed rate

async function e2eLatency(port: number, account: string): Promise<{ p50: number; p99: number; seen: number; sent: number; status: Record<string, number> }> {
  const sendsFile = path.join(dir, `sends-${account}.txt`);
  const seenAt = new Map<string, number>();
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const t = Date.now();
      const ids = await chRows<{ id: string }>('SELECT toString(event_id) AS id FROM events WHERE account_id = {a:String}', { a: account });
      const now = Date.now();
      // The moment of the query's answer, less half its run time: the best estimate of when it read.
      for (const { id } of ids) if (!seenAt.has(id)) seenAt.set(id, (t + now) / 2);
      await sleep(Math.max(0, 25 - (Date.now() - t)));
    }
  })();
  const res = await load({
    port,
    connections: 64,
    pipeline: 1,
    durationMs: S.e2eMs,
    rate: S.e2eRate,
    recordSendsTo: sendsFile,
    request: { kind: 'event', path: '/v/event', account, clientIps: 1000, sessions: 1000 },
  });
  const sends = new Map(
    readFileSync(sendsFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [id, at] = l.split(' ');
        return [id!, Number(at)] as const;
      }),
  );
  const until = Date.now() + 15_000;
  while (Date.now() < until && [...sends.keys()].some((id) => !seenAt.has(id))) await sleep(100);
  polling = false;
  await poller;
  const lat = [...sends].filter(([id]) => seenAt.has(id)).map(([id, at]) => seenAt.get(id)! - at);
  return { p50: round(percentile(lat, 50)), p99: round(percentile(lat, 99)), seen: lat.length, sent: sends.size, status: res.status };
}

await phase('e2e-latency', async () => {
  if (!storeWorker && !worker) {
    worker = await startService('worker', { ...common, ROLES: 'worker', CLICKHOUSE_URL: storeUrl }, path.join(dir, 'worker.log'));
    procs.push(worker);
  }
  const svc = await e2eLatency(gwPort, 'bench-lat');
  log(`e2e: service p50 ${svc.p50} ms p99 ${svc.p99} ms (${svc.seen}/${svc.sent})`);
  const blPort = await freePort();
  const blServer = startScript('baseline-ingest-lat', 'bench/baseline/ingest-server.ts', [String(blPort), redisLocal!.url, 'bl:lat']);
  procs.push(blServer);
  await waitForLine(blServer, /^listening/);
  const blFlush = startScript('baseline-flush-follow', 'bench/baseline/flush-loop.ts', [
    JSON.stringify({ mode: 'follow', redisUrl: redisLocal!.url, stream: 'bl:lat', clickhouseUrl: storeUrl, database: 'visitor', batchSize: 10_000, intervalMs: 1000 }),
  ]);
  procs.push(blFlush);
  await waitForLine(blFlush, /^following/);
  const base = await e2eLatency(blPort, 'bench-lat-bl');
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
});

await phase('presence-with-worker', async () => {
  const [svc] = await joinLatency(`ws://127.0.0.1:${gwPort}/live?account=bench-live&key=${encodeURIComponent(adminKey['bench-live'])}`, gwPort, gateway.pid, 'svc2', [S.heartbeatsPerS]);
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
});

// ---------------------------------------------------------------------------------------------
// Query latencies over many events

const EVENT_COLUMNS =
  'account_id, event_id, ts, received_at, type, session_id, visitor_id, person_id, path, url, title, referrer, label, depth, dwell_ms, listing, rec_id, ua_family, device, channel, referrer_host';

/** Events of 20 per session, 200,000 visitors (one in 20 with a cookie person), 5,000 listings, over the last 30 days. */
function eventsSql(start: number, count: number, total: number, t0Ms: number): string {
  const span = 30 * 86_400_000;
  return `INSERT INTO events (${EVENT_COLUMNS})
SELECT 'bench-q', generateUUIDv4(number), ts, ts, type, concat('s-', toString(s)), concat('v-', toString(v)),
  if(v % 20 = 0, concat('p-', toString(intDiv(v, 20))), ''), p, concat('https://bench.example', p), concat('Listing ', toString(l)),
  if(number % 20 = 0, 'https://www.google.com/', ''), if(type = 'click', 'card', ''),
  if(type = 'scroll', [25, 50, 75, 100][1 + s % 4], 0), if(type = 'leave', toUInt32(cityHash64(number) % 300000), 0),
  toString(l), if(type = 'click' AND s % 3 = 0, concat('r-', toString(s)), ''), 'Chrome', 'desktop',
  if(number % 20 = 0, 'search', 'direct'), if(number % 20 = 0, 'www.google.com', '')
FROM (
  SELECT number, intDiv(number, 20) AS s, intDiv(number, 20) % 200000 AS v, cityHash64(intDiv(number, 4)) % 5000 AS l,
    concat('/listings/', toString(l)) AS p,
    ['pageview','pageview','pageview','pageview','pageview','pageview','pageview','pageview','heartbeat','heartbeat',
     'heartbeat','heartbeat','heartbeat','heartbeat','scroll','scroll','scroll','click','click','leave'][1 + number % 20] AS type,
    fromUnixTimestamp64Milli(toInt64(${t0Ms} + intDiv(number * ${span}, ${total})), 'UTC') AS ts
  FROM numbers(${start}, ${count})
)`;
}

/** Five recommended listings for every third session, the clicked one among them. */
function recommendationsSql(total: number, t0Ms: number): string {
  const span = 30 * 86_400_000;
  return `INSERT INTO recommendations (account_id, rec_id, listing, session_id, visitor_id, person_id, ts, source)
SELECT 'bench-q', concat('r-', toString(s)), toString(cityHash64(5 * s + number % 5) % 5000), concat('s-', toString(s)),
  concat('v-', toString(s % 200000)), '', fromUnixTimestamp64Milli(toInt64(${t0Ms} + intDiv(20 * s * ${span}, ${total})), 'UTC'), 'bench'
FROM (SELECT number, intDiv(number, 5) * 3 AS s FROM numbers(${Math.floor(total / 60) * 5}))`;
}

interface QueryRun {
  p50: number;
  p99: number;
  runs: number;
  status: number;
  rows?: number;
}

async function timeApi(url: string, key: string): Promise<QueryRun | 'unavailable'> {
  const times: number[] = [];
  let status = 0;
  for (let i = 0; i < S.queryRuns + 2; i++) {
    const t = performance.now();
    const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
    const body = await res.text();
    const ms = performance.now() - t;
    status = res.status;
    if (res.status === 404 && body.includes('no route')) return 'unavailable';
    if (!res.ok) throw new Error(`${url} answered ${res.status}: ${body.slice(0, 300)}`);
    if (i >= 2) times.push(ms);
  }
  return { p50: round(percentile(times, 50)), p99: round(percentile(times, 99)), runs: times.length, status };
}

async function timeSql(sql: string): Promise<QueryRun> {
  const times: number[] = [];
  for (let i = 0; i < S.queryRuns + 2; i++) {
    const t = performance.now();
    await ch(sql);
    if (i >= 2) times.push(performance.now() - t);
  }
  return { p50: round(percentile(times, 50)), p99: round(percentile(times, 99)), runs: times.length, status: 200 };
}

await phase('queries', async () => {
  const t0 = Date.now() - 30 * 86_400_000;
  let inserted = 0;
  const genStarted = Date.now();
  for (let start = 0; start < S.queryEvents; start += S.queryChunk) {
    // Leave about two minutes for the queries themselves.
    if (Date.now() > DEADLINE - 120_000) {
      notes.push(`query data generation stopped at ${inserted.toLocaleString('en-US')} events to keep the run under its deadline`);
      break;
    }
    const count = Math.min(S.queryChunk, S.queryEvents - start);
    await ch(eventsSql(start, count, S.queryEvents, t0));
    inserted += count;
    log(`queries: ${inserted.toLocaleString('en-US')} events generated`);
  }
  await ch(recommendationsSql(inserted, t0));
  await ch(`INSERT INTO identity_edges (account_id, visitor_id, person_id, source, confidence, ts)
    SELECT 'bench-q', concat('v-', toString(number * 20 + 1)), concat('p-e', toString(number)), 'bench', 1, now64(3) FROM numbers(10000)`);
  const genS = round((Date.now() - genStarted) / 1000);
  const counts = (await chRows<{ t: string; n: string }>(
    "SELECT 'events' AS t, count() AS n FROM events WHERE account_id = 'bench-q' UNION ALL SELECT 'recommendations', count() FROM recommendations WHERE account_id = 'bench-q' UNION ALL SELECT 'recommendation_clicks', count() FROM recommendation_clicks WHERE account_id = 'bench-q' UNION ALL SELECT 'visitor_engagement rows', count() FROM visitor_engagement WHERE account_id = 'bench-q'",
  )).map((r) => [r.t, Number(r.n)]);
  log(`queries: data ready in ${genS} s: ${JSON.stringify(Object.fromEntries(counts))}`);

  const key = adminKey['bench-q'];
  const session = `s-${Math.floor(inserted / 20 / 2)}`;
  const api = {
    engagement: await timeApi(`${gateway.url}/api/engagement?limit=50`, key),
    ctr: await timeApi(`${gateway.url}/api/ctr`, key),
    session: await timeApi(`${gateway.url}/api/sessions/${session}`, key),
  };
  const plain = {
    engagement: await timeSql(`SELECT visitor_id, max(ts) AS last, countIf(type = 'pageview') AS pv, countIf(type = 'scroll' AND depth > 0) AS sm, sum(dwell_ms) AS dw,
      pow(2, -dateDiff('second', last, now64(3)) / 86400 / 7) * log2(1 + pv + 0.25 * sm) * log2(2 + dw / 1000 / 60) AS score
      FROM events WHERE account_id = 'bench-q' GROUP BY visitor_id ORDER BY score DESC LIMIT 50`),
    ctr: await timeSql(`SELECT listing, i.n AS impressions, c.n AS clicks FROM
      (SELECT listing, uniqExact(rec_id, session_id) AS n FROM recommendations WHERE account_id = 'bench-q' AND ts >= now64(3) - INTERVAL 30 DAY GROUP BY listing) AS i
      FULL OUTER JOIN (SELECT listing, uniqExact(rec_id, session_id) AS n FROM events WHERE account_id = 'bench-q' AND type = 'click' AND rec_id != '' AND ts >= now64(3) - INTERVAL 30 DAY GROUP BY listing) AS c
      USING (listing) ORDER BY impressions DESC LIMIT 10000`),
    session: await timeSql(`SELECT * FROM events WHERE account_id = 'bench-q' AND session_id = '${session}' ORDER BY ts, event_id`),
  };
  const tools: [keyof typeof api, string, string][] = [
    ['engagement', 'engagement-score (GET /api/engagement?limit=50)', 'plain GROUP BY visitor over the raw events computing the same score, sent straight to the store'],
    ['ctr', 'recommendation-ctr (GET /api/ctr, last 30 days)', 'plain impressions ⟗ clicks counted from the raw events (no materialised view), sent straight to the store'],
    ['session', 'session-detail (GET /api/sessions/:id)', 'the same sort-key read of one session, sent straight to the store (no API)'],
  ];
  for (const [k, name, baselineIs] of tools) {
    const a = api[k];
    const b = plain[k];
    const svc = a === 'unavailable' ? null : a;
    for (const p of ['p50', 'p99'] as const) {
      figures.push(
        figure({
          id: `query-${k}-${p}`,
          name: `Query ${name} ${p} over ${(inserted / 1e6).toLocaleString('en-US')}M events`,
          unit: 'ms',
          better: 'lower',
          service: svc ? svc[p] : null,
          baseline: b[p],
          baselineIs,
          target: p === 'p99' ? { op: '<', value: TARGETS.query } : undefined,
          status: a === 'unavailable' ? 'unavailable' : undefined,
          note: a === 'unavailable' ? 'the endpoint answered 404: not built yet' : undefined,
          detail: { runs: S.queryRuns, api: a, baseline: b, dataGenerationS: genS, rows: Object.fromEntries(counts) },
        }),
      );
    }
    log(`query ${k}: ${a === 'unavailable' ? 'unavailable' : `p50 ${a.p50} ms p99 ${a.p99} ms`}; plain p50 ${b.p50} ms`);
  }
});

// ---------------------------------------------------------------------------------------------
// Results

rss.stop();
const result: BenchResult = {
  generatedAt: new Date().toISOString(),
  command: `npm run bench${QUICK || ONLY ? ` -- ${process.argv.slice(2).filter((a) => a !== '--keep').join(' ')}` : ''}`,
  mode: QUICK ? 'quick' : 'full',
  durationS: round((Date.now() - started) / 1000),
  machine: {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim(),
    memGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    redis: `redis-server ${/v=(\S+)/.exec(spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? '?'}`,
    loadavgStart: loadStart,
    loadavgEnd: os.loadavg().map((x) => round(x, 2)),
  },
  setup: {
    processes: 'redis-server; store (ROLES=store, chdb) ; gateway (ROLES=gateway); worker (ROLES=worker) — each `node --import tsx src/main.ts`',
    settings: 'defaults (LOG_LEVEL=info: one log line per accepted event), TRUST_PROXY=true with 5,000 client addresses in X-Forwarded-For',
    load: `ingest: wrk (bench/load/wrk-ingest.lua), ${S.connections} keep-alive connections, a fresh event id per event; presence and end-to-end: bench/load/http-load.ts at a fixed rate (open loop), one request in flight per connection`,
    ...S,
  },
  figures,
  contention,
  diagnostics: { redisTop },
  notes: lostProcess ? [`the run is incomplete: ${lostProcess}`, ...notes] : notes,
};
// Only a full run replaces the committed results the README quotes; quick and partial (--only)
// runs go to the untracked test-results/.
const outBase = ONLY || QUICK ? path.join(REPO, 'test-results', ONLY ? 'bench-partial' : 'bench-quick') : path.join(REPO, 'bench/results/latest');
mkdirSync(path.dirname(outBase), { recursive: true });
writeFileSync(`${outBase}.json`, `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(`${outBase}.md`, renderMarkdown(result));
log(`wrote ${path.relative(REPO, outBase)}.json and .md`);
process.stdout.write(renderMarkdown(result));
redis.disconnect();
await cleanup();
process.exit(0);
