/**
 * Phase `sustained`: the `npm start` shape under a minute of closed-loop load, end to end. One
 * process with every role (gateway, worker and store with embedded chdb, default ROLES) on its
 * own DATA_DIR with the bench's accounts file, and REDIS_URL unset, so it runs its own private
 * redis-server as `npm start` does. (Not the bench's redis: the store+worker the flush phase
 * leaves there would flush the same `v:` streams into another chdb.) wrk posts for `sustainedMs`
 * per request shape while the account stream's length and pending list (the backlog) and the
 * memory of the process and its redis-server are sampled each second; then the backlog's drain
 * is timed and ClickHouse must hold every accepted event exactly once.
 */
import { createReadStream, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { FLUSH_GROUP } from '../../src/adapters/redis/keys.js';
import { freePort } from '../../src/adapters/redis/launcher.js';
import { chRowsAt, type BenchContext } from '../lib/context.js';
import { selfCpu } from '../lib/phase.js';
import { cpuSeconds, machineCpu, rssMb, startService, treeCpuSeconds, type ServiceProc } from '../lib/proc.js';
import { figure, percentile, round, type Figure } from '../lib/report.js';
import { ensureWrk, runWrk, type WrkResult } from '../lib/wrk.js';

/** The default FLUSH_BATCH_SIZE: a backlog that keeps up moves within about one batch. */
const FLUSH_BATCH = 50_000;

/** Each request shape posts to its own account (the service is private: any two of the accounts file's). */
const ACCOUNT_OF: Record<number, string> = { 20: 'bench', 1: 'bench-q' };

interface Sample {
  /** Seconds since the load started. */
  s: number;
  /** Entries in the account stream (XLEN): accepted, not yet flushed and deleted. */
  backlog: number;
  /** Of those, read by the flusher and not yet acknowledged (XPENDING). */
  pending: number;
  rssMb: number;
  redisRssMb: number;
}

interface SustainedRun {
  batch: number;
  /** When the load started (epoch ms). */
  startedAt: number;
  account: string;
  wrk: WrkResult;
  /** 2xx answers × events per request (wrk's count: requests still in flight when it stops are not in it). */
  accepted: number;
  /** The service's own count (`visitor_events_accepted_total` of the account). */
  acceptedByService: number | null;
  eventsPerS: number;
  stored: number;
  distinct: number;
  deadLetters: number;
  lost: number;
  duplicated: number;
  backlogPeak: number;
  backlogAtEnd: number;
  /** Mean backlog of the last window of the load minus that of the first (after the ramp-up). */
  backlogGrowth: number;
  /** Those windows, in seconds of the load. */
  growthWindows: { first: [number, number]; last: [number, number] };
  /** Least-squares slope of the backlog over the load, events/s (≈ 0 when the flush keeps up). */
  backlogSlopePerS: number;
  drainMs: number | null;
  rssPeakMb: number;
  redisRssPeakMb: number;
  /** GET /api/engagement (the operator's whom-to-call list) asked every QUERY_EVERY_MS during the load: its latency while ingest and flush run. */
  query: { p50: number; p99: number; max: number; runs: number; failed: number };
  /** Cores the service's process tree (with its redis-server) used during the load, and the machine's share used by processes other than this bench. */
  cpu: { serviceCores: number; otherShare: number };
  samples: Sample[];
}

/** How often the query probe asks, during the load (one at a time: a slow answer delays the next). */
const QUERY_EVERY_MS = 250;

/** Ask GET /api/engagement every QUERY_EVERY_MS until `stop()`; the answers' latencies (ms), and how many failed. */
function probeQueries(url: string, key: string): { stop(): Promise<{ ms: number[]; failed: number }> } {
  const ms: number[] = [];
  let failed = 0;
  const loop = repeatEvery(QUERY_EVERY_MS, async () => {
    const at = performance.now();
    try {
      const res = await fetch(`${url}/api/engagement?limit=50`, { headers: { authorization: `Bearer ${key}` } });
      await res.text();
      if (res.ok) ms.push(performance.now() - at);
      else failed++;
    } catch {
      failed++;
    }
  });
  return {
    async stop() {
      await loop.stop();
      return { ms, failed };
    },
  };
}

/** The flusher's pending count; 0 before it has made its group. */
async function pendingCount(redis: Redis, stream: string): Promise<number> {
  const r = (await redis.xpending(stream, FLUSH_GROUP).catch(() => [0])) as [number | string];
  return Number(r[0]);
}

/** `visitor_events_accepted_total` of one account from the gateway's /metrics (0 before its first event). */
async function acceptedMetric(gatewayUrl: string, account: string): Promise<number | null> {
  try {
    const text = await (await fetch(`${gatewayUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('visitor_events_accepted_total{') && l.includes(`account="${account}"`));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  } catch {
    return null;
  }
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

function slope(points: { x: number; y: number }[]): number {
  const mx = mean(points.map((p) => p.x));
  const my = mean(points.map((p) => p.y));
  const num = points.reduce((n, p) => n + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((n, p) => n + (p.x - mx) ** 2, 0);
  return den ? num / den : 0;
}

/** The redis-server pid in a data dir's pid file, if it is still a redis-server working there. */
function privateRedisPid(dataDir: string): number | undefined {
  const dir = path.join(dataDir, 'redis');
  try {
    const pid = Number(readFileSync(path.join(dir, 'redis.pid'), 'utf8').trim());
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    return comm.startsWith('redis-server') && readlinkSync(`/proc/${pid}/cwd`) === realpathSync(dir) ? pid : undefined;
  } catch {
    return undefined;
  }
}

interface LogScan {
  /** Lines at warn or above: how many, the first and last few. */
  problems: { count: number; first: string[]; last: string[] };
  /** The flusher's `[flush]` lines that wrote events: how many, events, and the time of each insert. */
  flushes: { count: number; events: number; meanMs: number; maxMs: number };
}

/**
 * The service log's lines from `sinceMs` on, read line by line (one info line per accepted
 * event makes it large; those are skipped unparsed).
 */
async function scanLog(file: string, sinceMs: number): Promise<LogScan> {
  const first: string[] = [];
  const last: string[] = [];
  let count = 0;
  const flushMs: number[] = [];
  let flushed = 0;
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.startsWith('{') || line.includes('[visitor-event]')) continue;
    let l: { level?: number; time?: string; msg?: string; ms?: number; tables?: { events?: number }; err?: { message?: string } };
    try {
      l = JSON.parse(line) as typeof l;
    } catch {
      continue; // a line cut by the process's end
    }
    if (Date.parse(l.time ?? '') < sinceMs) continue;
    if (l.msg?.startsWith('[flush] ') && l.tables?.events) {
      flushMs.push(Number(l.ms));
      flushed += l.tables.events;
    }
    if ((l.level ?? 0) < 40) continue;
    count++;
    const text = `${l.level} ${l.msg ?? ''}${l.err?.message ? `: ${l.err.message}` : ''}`.slice(0, 300);
    if (first.length < 5) first.push(text);
    else if (last.push(text) > 5) last.shift();
  }
  return {
    problems: { count, first, last },
    flushes: { count: flushMs.length, events: flushed, meanMs: Math.round(mean(flushMs)), maxMs: Math.max(0, ...flushMs) },
  };
}

/** `tick()` every `periodMs` (one at a time: a slow tick delays the next) until `stop()`. */
function repeatEvery(periodMs: number, tick: () => Promise<void>): { stop(): Promise<void> } {
  let on = true;
  const loop = (async () => {
    while (on) {
      const at = performance.now();
      await tick();
      await sleep(Math.max(0, periodMs - (performance.now() - at)));
    }
  })();
  return {
    async stop() {
      on = false;
      await loop;
    },
  };
}

/** `read()` once a second (a failed reading is skipped) until `stop()`. */
function sampleEachSecond(t0: number, read: () => Promise<Omit<Sample, 's'>>): { samples: Sample[]; stop(): Promise<void> } {
  const samples: Sample[] = [];
  const loop = repeatEvery(1000, async () => {
    const at = Date.now();
    const x = await read().catch(() => undefined);
    if (x) samples.push({ s: round((at - t0) / 1000), ...x });
  });
  return { samples, stop: () => loop.stop() };
}

async function sustainedRun(
  ctx: BenchContext,
  svc: ServiceProc,
  redis: Redis,
  redisPid: () => number | undefined,
  batch: number,
  /** Why the service is gone, once it is: nothing will drain then. */
  gone: () => string | undefined,
): Promise<SustainedRun> {
  const { S, keys, procs, redisLocal } = ctx;
  const account = ACCOUNT_OF[batch] ?? 'bench';
  const stream = keys.eventStream(account);
  const before = await acceptedMetric(svc.url!, account);

  const t0 = Date.now();
  const sampler = sampleEachSecond(t0, async () => {
    const [backlog, pending] = await Promise.all([redis.xlen(stream), pendingCount(redis, stream)]);
    const rp = redisPid();
    return { backlog, pending, rssMb: rssMb(svc.pid), redisRssMb: rp ? rssMb(rp) : 0 };
  });
  // CPU during the load: the service's tree (its redis-server included), this bench with its
  // children (wrk, counted once it has exited), the setup's idle processes; the rest is others'.
  const ours = () =>
    treeCpuSeconds(svc.pid) + selfCpu() + procs.filter((p) => p !== svc).reduce((n, p) => n + cpuSeconds(p.pid), 0) + cpuSeconds(redisLocal.pid!);
  let res: WrkResult;
  let loadEnd: number;
  let svcCpu: number;
  let otherShare: number;
  let drainMs: number | null = null;
  let backlogAtEnd = -1;
  let queried: { ms: number[]; failed: number } = { ms: [], failed: 0 };
  try {
    const svcCpu0 = treeCpuSeconds(svc.pid);
    const ours0 = ours();
    const m0 = machineCpu();
    const prober = probeQueries(svc.url!, ctx.adminKey[account as keyof typeof ctx.adminKey]);
    try {
      res = await runWrk({ port: Number(new URL(svc.url!).port), connections: S.connections, durationS: S.sustainedMs / 1000, batch, account });
    } finally {
      queried = await prober.stop();
    }
    loadEnd = Date.now();
    svcCpu = treeCpuSeconds(svc.pid) - svcCpu0;
    const m1 = machineCpu();
    otherShare = m1.total > m0.total ? Math.max(0, (m1.busy - m0.busy - (ours() - ours0)) / (m1.total - m0.total)) : 0;
    while (Date.now() - loadEnd < S.sustainedDrainMs) {
      const why = gone();
      if (why) throw new Error(why);
      const [len, pending] = await Promise.all([redis.xlen(stream), pendingCount(redis, stream)]);
      if (backlogAtEnd < 0) backlogAtEnd = len;
      if (len === 0 && pending === 0) {
        drainMs = Date.now() - loadEnd;
        break;
      }
      await sleep(100);
    }
  } finally {
    // The samples go on through the drain (the flush of the backlog is when memory may peak).
    await sampler.stop();
  }
  const samples = sampler.samples;
  const after = await acceptedMetric(svc.url!, account);
  const [row] = await chRowsAt<{ n: string; d: string }>(
    svc.storeUrl!,
    'SELECT count() AS n, uniqExact(event_id) AS d FROM events WHERE account_id = {a:String}',
    {
      a: account,
    },
  );
  const stored = Number(row?.n ?? 0);
  const distinct = Number(row?.d ?? 0);
  const accepted = (res.requests - res.non2xx) * batch;
  const acceptedByService = before !== null && after !== null ? after - before : null;

  const load = samples.filter((x) => x.s <= res.durationS);
  // The first window starts after the ramp-up (5 s of 60): the stream starts empty.
  const skip = Math.floor(load.length / 12);
  const w = Math.max(1, Math.min(10, Math.floor(load.length / 3)));
  const backlogs = load.map((x) => x.backlog);
  return {
    batch,
    startedAt: t0,
    account,
    wrk: res,
    accepted,
    acceptedByService,
    eventsPerS: Math.round(accepted / res.durationS),
    stored,
    distinct,
    deadLetters: await redis.xlen(keys.deadLetters(account)),
    // The service's own count is exact, wrk's misses the requests in flight when it stopped: the larger one.
    lost: Math.max(0, Math.max(acceptedByService ?? 0, accepted) - distinct),
    duplicated: stored - distinct,
    backlogPeak: Math.max(0, ...backlogs, backlogAtEnd),
    backlogAtEnd,
    backlogGrowth: Math.round(mean(backlogs.slice(-w)) - mean(backlogs.slice(skip, skip + w))),
    growthWindows: { first: [skip, skip + w], last: [load.length - w, load.length] },
    backlogSlopePerS: Math.round(slope(load.map((x) => ({ x: x.s, y: x.backlog })))),
    drainMs,
    rssPeakMb: Math.max(0, ...samples.map((x) => x.rssMb)),
    redisRssPeakMb: Math.max(0, ...samples.map((x) => x.redisRssMb)),
    query: {
      p50: round(percentile(queried.ms, 50)),
      p99: round(percentile(queried.ms, 99)),
      max: round(Math.max(0, ...queried.ms)),
      runs: queried.ms.length,
      failed: queried.failed,
    },
    cpu: { serviceCores: round(svcCpu / ((loadEnd - t0) / 1000), 2), otherShare: round(otherShare, 2) },
    samples,
  };
}

function runFigures(ctx: BenchContext, r: SustainedRun, { problems, flushes }: LogScan, idleRssMb: number): Figure[] {
  const { S } = ctx;
  const shape = r.batch === 1 ? 'single events' : `batches of ${r.batch}`;
  const id = `sustained-${r.batch === 1 ? 'single' : 'batch'}`;
  const secs = S.sustainedMs / 1000;
  const name = (what: string) => `Sustained, npm start shape, ${shape}, ${secs} s: ${what}`;
  const ingestAlone = ctx.figures.find((f) => f.id === (r.batch === 1 ? 'gateway-single' : 'gateway-batch'));
  const exact = 'none: the target is exact (0)';
  const counts = {
    acceptedByWrk: r.accepted,
    acceptedByService: r.acceptedByService,
    storedRows: r.stored,
    distinctEventIds: r.distinct,
    deadLetters: r.deadLetters,
    drained: r.drainMs !== null,
  };
  const backlogDetail = {
    peak: r.backlogPeak,
    atEndOfLoad: r.backlogAtEnd,
    growth: r.backlogGrowth,
    growthWindowsS: r.growthWindows,
    posted: r.acceptedByService ?? r.accepted,
    slopePerS: r.backlogSlopePerS,
    peakOverPosted: r.accepted ? round(r.backlogPeak / r.accepted, 3) : null,
    flushes,
    perSecond: r.samples.map((x) => [x.s, x.backlog, x.pending]),
  };
  return [
    figure({
      id,
      name: name('events/s accepted (2xx), every one stored'),
      unit: 'events/s',
      better: 'higher',
      service: r.eventsPerS,
      baseline: ingestAlone?.service ?? null,
      baselineIs: ingestAlone
        ? 'the gateway alone (ROLES=gateway) accepting into Redis under the same wrk load earlier in this run (ingest phase): what sharing one process with the flusher and chdb costs'
        : 'none in this run: the ingest phase (the gateway alone into Redis) did not run',
      note: `wrk, ${S.connections} connections, closed loop; ${r.wrk.non2xx} non-2xx answers, ${r.wrk.socketErrors} socket errors`,
      detail: {
        latencyMs: r.wrk.latencyMs,
        requests: r.wrk.requests,
        non2xx: r.wrk.non2xx,
        socketErrors: r.wrk.socketErrors,
        measuredS: r.wrk.durationS,
        cpu: r.cpu,
        account: r.account,
        ...counts,
      },
    }),
    figure({
      id: `${id}-lost`,
      name: name('accepted events missing from ClickHouse'),
      unit: 'events',
      better: 'lower',
      service: r.drainMs === null ? null : r.lost,
      baseline: null,
      baselineIs: exact,
      target: { op: '<', value: 1 },
      note:
        r.drainMs === null
          ? `the backlog did not drain within ${S.sustainedDrainMs / 1000} s`
          : 'accepted (the service’s visitor_events_accepted_total) minus distinct event ids stored',
      detail: counts,
    }),
    figure({
      id: `${id}-duplicated`,
      name: name('events stored more than once'),
      unit: 'events',
      better: 'lower',
      service: r.stored - r.distinct,
      baseline: null,
      baselineIs: exact,
      target: { op: '<', value: 1 },
      detail: counts,
    }),
    figure({
      id: `${id}-backlog-growth`,
      name: name(
        `backlog growth over the load (mean backlog of its seconds ${r.growthWindows.last.join('–')} less that of ${r.growthWindows.first.join('–')})`,
      ),
      unit: 'events',
      better: 'lower',
      service: r.backlogGrowth,
      baseline: null,
      baselineIs: `none: bounded means it does not grow; the target is one flush batch (FLUSH_BATCH_SIZE ${FLUSH_BATCH.toLocaleString('en-US')}), the backlog a flush that keeps up moves within`,
      target: { op: '<', value: FLUSH_BATCH },
      detail: backlogDetail,
    }),
    figure({
      id: `${id}-backlog-peak`,
      name: name('peak backlog (stream entries not yet flushed)'),
      unit: 'events',
      better: 'lower',
      service: r.backlogPeak,
      baseline: null,
      baselineIs: 'none: the flush has no plain counterpart in this shape; events posted in the load are in detail for scale',
      note: `${r.backlogAtEnd.toLocaleString('en-US')} at the end of the load`,
      detail: backlogDetail,
    }),
    figure({
      id: `${id}-drain`,
      name: name('time from the end of the load until the stream and pending list are empty'),
      unit: 'ms',
      better: 'lower',
      service: r.drainMs,
      baseline: null,
      baselineIs: `none: a flush that keeps up drains within about one FLUSH_INTERVAL_MS (1 s) plus one insert; bounded at ${S.sustainedDrainMs / 1000} s`,
      detail: { backlogAtEnd: r.backlogAtEnd },
    }),
    figure({
      id: `${id}-query`,
      name: name('p99 of GET /api/engagement asked during the load (ingest and flush running)'),
      unit: 'ms',
      better: 'lower',
      service: r.query.runs ? r.query.p99 : null,
      baseline: null,
      baselineIs: `none: the same query on an idle service is the queries phase's; asked every ${QUERY_EVERY_MS} ms, one at a time`,
      note: `${r.query.runs} answers, ${r.query.failed} failed; p50 ${r.query.p50} ms, max ${r.query.max} ms`,
      detail: r.query,
    }),
    figure({
      id: `${id}-rss`,
      name: name('peak memory (RSS) of the one process'),
      unit: 'MB',
      better: 'lower',
      service: r.rssPeakMb || null,
      baseline: null,
      baselineIs: 'none: no plain program holds gateway, flusher and embedded engine in one process',
      detail: {
        idleMb: idleRssMb,
        redisRssPeakMb: r.redisRssPeakMb,
        perSecond: r.samples.map((x) => [x.s, x.rssMb, x.redisRssMb]),
        logWarningsAndErrors: problems,
      },
    }),
  ];
}

export async function sustained(ctx: BenchContext): Promise<void> {
  const { S, dir, common, procs, figures, notes, log, opts } = ctx;
  ensureWrk(log);
  const dataDir = path.join(dir, 'sustained-data');
  const logFile = path.join(dir, 'sustained.log');
  let svc: ServiceProc | undefined;
  let redis: Redis | undefined;
  let crashed: string | undefined;
  try {
    // The `npm start` environment: no ROLES, no REDIS_URL, no CLICKHOUSE_URL; the bench's
    // settings otherwise (LOG_LEVEL=info, TRUST_PROXY for wrk's X-Forwarded-For addresses).
    svc = await startService(
      'all-roles',
      {
        DATA_DIR: dataDir,
        ACCOUNTS_FILE: common.ACCOUNTS_FILE!,
        LOG_LEVEL: common.LOG_LEVEL!,
        HOST: common.HOST!,
        TRUST_PROXY: common.TRUST_PROXY!,
        PORT: String(await freePort()),
        STORE_PORT: String(await freePort()),
      },
      logFile,
      180_000,
    );
    procs.push(svc);
    const running = svc;
    void running.exited.then((code) => {
      if (procs.includes(running)) {
        crashed = `the all-roles process exited (${code}) under the sustained load`;
        log(`!! ${crashed}`);
      }
    });
    if (!svc.url || !svc.storeUrl || !svc.redisUrl) throw new Error('the all-roles process did not print its gateway, store and Redis URLs');
    redis = new Redis(svc.redisUrl, { maxRetriesPerRequest: 2 });
    let redisPid: number | undefined = privateRedisPid(dataDir);
    // The private redis-server is restarted by its supervisor if it dies: read its pid afresh then.
    const currentRedisPid = () => (redisPid && rssMb(redisPid) ? redisPid : (redisPid = privateRedisPid(dataDir)));
    const idleRssMb = rssMb(svc.pid);
    log(`sustained: all roles in one process at ${svc.url} (idle RSS ${idleRssMb} MB), private redis pid ${redisPid ?? '?'}`);
    for (const [i, batch] of S.sustainedBatches.entries()) {
      if (i > 0 && Date.now() > ctx.deadline) {
        notes.push(`sustained: the run passed its deadline; the ${batch === 1 ? 'single-event' : `batch-of-${batch}`} run was skipped`);
        break;
      }
      if (crashed) break;
      const r = await sustainedRun(ctx, svc, redis, currentRedisPid, batch, () => crashed);
      const scan = await scanLog(logFile, r.startedAt);
      const { problems } = scan;
      figures.push(...runFigures(ctx, r, scan, idleRssMb));
      log(
        `sustained (batch ${batch}): ${r.eventsPerS}/s accepted (${r.accepted} events, service counted ${r.acceptedByService}), ` +
          `${r.stored} stored, ${r.distinct} distinct, lost ${r.lost}, duplicated ${r.duplicated}; backlog peak ${r.backlogPeak}, ` +
          `at end ${r.backlogAtEnd}, growth ${r.backlogGrowth}; drained in ${r.drainMs ?? '(not drained)'} ms; RSS peak ${r.rssPeakMb} MB; ` +
          `${problems.count} warnings/errors in the log; other processes ${Math.round(r.cpu.otherShare * 100)} % of the machine`,
      );
      if (problems.count)
        notes.push(
          `sustained (batch ${batch}): ${problems.count} warning/error lines in the service log: ${[...problems.first, ...(problems.last.length ? ['…', ...problems.last] : [])].join(' | ')}`,
        );
    }
  } finally {
    if (crashed) {
      const problems = (await scanLog(logFile, 0).catch(() => undefined))?.problems;
      const lines = problems ? [...problems.first, ...problems.last].slice(-5) : [];
      notes.push(`sustained: ${crashed}; its log's last warnings/errors: ${lines.length ? lines.join(' | ') : 'none'}`);
    }
    redis?.disconnect();
    if (svc) {
      const p = svc;
      procs.splice(procs.indexOf(p), 1);
      await p.stop();
    }
    // Its redis-server outlives it only if it was killed (SIGKILL past the drain deadline).
    const orphan = privateRedisPid(dataDir);
    if (orphan) {
      process.kill(orphan, 'SIGTERM');
      for (let i = 0; i < 50 && privateRedisPid(dataDir); i++) await sleep(100);
      if (privateRedisPid(dataDir)) process.kill(orphan, 'SIGKILL');
    }
    // Its log holds a line per accepted event (hundreds of MB): kept only with --keep.
    if (!opts.keep) {
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(logFile, { force: true });
    }
  }
}
