/**
 * What every bench phase reads and writes: the run's options and sizes, the processes under test
 * (a private redis-server, the store and the gateway, started by `setUp`), and the figures and
 * notes the phases add. The state one phase leaves for a later one is named in `state`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { sha256Hex } from '../../src/domain/account.js';
import { freePort, startLocalRedis, type LocalRedis } from '../../src/adapters/redis/launcher.js';
import { RedisKeys } from '../../src/adapters/redis/keys.js';
import { createLogger } from '../../src/logger.js';
import type { LoadResult, LoadSpec } from '../load/http-load.js';
import { rssMb, RssSampler, runScript, startService, type Proc, type ServiceProc } from './proc.js';
import type { Figure } from './report.js';

export const ACCOUNTS = ['bench', 'bench-lat', 'bench-hb', 'bench-live', 'bench-q'] as const;
export type BenchAccount = (typeof ACCOUNTS)[number];

/** Durations and counts of a run (smaller with `--quick`). */
export function sizes(quick: boolean) {
  return {
    ingestMs: quick ? 4000 : 10_000,
    warmupMs: quick ? 1000 : 2000,
    /** wrk connections of the ingest runs (as in issue 12's table). */
    connections: 64,
    /** Events in the stream when the flush is timed (at most). */
    flushEvents: quick ? 100_000 : 300_000,
    e2eRate: 500,
    e2eMs: quick ? 4000 : 10_000,
    subscribers: quick ? 200 : 1000,
    heartbeatsPerS: 5000,
    /** Heartbeat rates of the presence phase: the figures at 5k and 20k/s, and the steps for the highest rate under the p99 target (from 500/s: on two shared cores the target is out of reach at 2,500). */
    heartbeatRates: quick ? [5000, 20_000] : [500, 1000, 2500, 5000, 10_000, 20_000],
    /** One heartbeat in this many is a new visitor whose join is timed. */
    probeEvery: 100,
    presenceMs: quick ? 5000 : 10_000,
    queryEvents: quick ? 1_000_000 : 10_000_000,
    queryChunk: 1_000_000,
    queryRuns: quick ? 5 : 15,
    /** Load of the sustained phase (the `npm start` shape), per request shape. */
    sustainedMs: quick ? 10_000 : 60_000,
    /** Events per request of its runs, in order: batches of 20 (the snippet's shape), then single events. */
    sustainedBatches: quick ? [20] : [20, 1],
    /** Longest wait after the load for the stream and the pending list to empty. */
    sustainedDrainMs: 120_000,
  };
}
export type Sizes = ReturnType<typeof sizes>;

export const TARGETS = {
  flush: 100_000,
  joinP99: 50,
  joinP99At20k: 250,
  query: 300,
};

export interface RunOptions {
  quick: boolean;
  /** `--only=presence,queries`: just these phases (for iterating on one figure). */
  only?: string[];
  keep: boolean;
  started: number;
}

export interface BenchContext {
  opts: RunOptions;
  S: Sizes;
  /** The run stops starting phases after this. */
  deadline: number;
  dir: string;
  keys: RedisKeys;
  adminKey: Record<BenchAccount, string>;
  redisLocal: LocalRedis;
  redis: Redis;
  /** Environment shared by every service process. */
  common: Record<string, string>;
  store: ServiceProc;
  storeUrl: string;
  gateway: ServiceProc;
  gwPort: number;
  gatewayIdleRss: number;
  /** The event stream of the `bench` account (ingest fills it, flush drains it). */
  streamBench: string;
  /** Every process still running, stopped at the end (newest first). */
  procs: Proc[];
  rss: RssSampler;
  figures: Figure[];
  notes: string[];
  /** Set when a service process dies under the bench (not stopped by it): later phases are skipped. */
  lostProcess?: string;
  /** What one phase leaves for the later ones. */
  state: {
    /** Events the ingest phases got into the bench stream. */
    ingested: number;
    worker?: ServiceProc;
    /** After the flush phase the store runs the worker role too (the single-process shape). */
    storeWorker?: ServiceProc;
  };
  log(msg: string): void;
  /** Skip later phases if `p` exits without the bench stopping it. */
  watch(p: ServiceProc): void;
  /** Stop `p` on purpose and forget it. */
  retire(p: Proc): Promise<void>;
  /** A query against the store's ClickHouse HTTP interface. */
  ch(sql: string, params?: Record<string, string | number>): Promise<string>;
  chRows<T>(sql: string, params?: Record<string, string | number>): Promise<T[]>;
  /** Run the load generator (bench/load/http-load.ts) against loopback. */
  load(spec: Omit<LoadSpec, 'host'>): Promise<LoadResult>;
  cleanup(): Promise<void>;
}

/** A query against the ClickHouse HTTP interface a store role serves at `storeUrl` (database `visitor`). */
export async function chAt(storeUrl: string, sql: string, params: Record<string, string | number> = {}): Promise<string> {
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

/** `chAt`'s JSONEachRow answer as rows. */
export async function chRowsAt<T>(storeUrl: string, sql: string, params: Record<string, string | number> = {}): Promise<T[]> {
  return (await chAt(storeUrl, sql, params))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

/** The private Redis, the store and the gateway, each its own process. */
export async function setUp(opts: RunOptions): Promise<BenchContext> {
  const log = (msg: string) => process.stdout.write(`[bench +${Math.round((Date.now() - opts.started) / 1000)}s] ${msg}\n`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'visitor-bench-'));
  const adminKey = Object.fromEntries(ACCOUNTS.map((a) => [a, randomBytes(18).toString('base64url')])) as Record<BenchAccount, string>;
  const accountsFile = path.join(dir, 'accounts.json');
  writeFileSync(
    accountsFile,
    JSON.stringify({
      accounts: ACCOUNTS.map((id) => ({
        id,
        origins: ['http://localhost:*'],
        adminKeySha256: [sha256Hex(adminKey[id])],
        listingUrl: 'http://localhost/listings/{slug}',
      })),
    }),
  );
  const procs: Proc[] = [];
  const stopping = new Set<Proc>();
  const redisLocal = await startLocalRedis(path.join(dir, 'redis'), createLogger('silent'));
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
  const gateway = await startService(
    'gateway',
    { ...common, ROLES: 'gateway', PORT: String(await freePort()), CLICKHOUSE_URL: storeUrl },
    path.join(dir, 'gateway.log'),
  );
  procs.push(gateway);

  const keys = new RedisKeys('v');
  const S = sizes(opts.quick);
  // The sustained phase runs for fixed times: its share comes on top, so that a phase filling the
  // time left (the queries' data) does not squeeze it out of the run.
  const sustainedMs = !opts.only || opts.only.includes('sustained') ? S.sustainedBatches.length * (S.sustainedMs + 30_000) + 30_000 : 0;
  const ctx: BenchContext = {
    opts,
    S,
    deadline: opts.started + (opts.quick ? 4 : 9.5) * 60_000 + sustainedMs,
    dir,
    keys,
    adminKey,
    redisLocal,
    redis,
    common,
    store,
    storeUrl,
    gateway,
    gwPort: Number(new URL(gateway.url!).port),
    gatewayIdleRss: rssMb(gateway.pid),
    streamBench: keys.eventStream('bench'),
    procs,
    rss: new RssSampler(() => procs.map((p) => p.pid)).start(),
    figures: [],
    notes: [],
    state: { ingested: 0 },
    log,
    watch(p) {
      void p.exited.then((code) => {
        if (!stopping.has(p)) {
          ctx.lostProcess ??= `${p.name} exited (${code}) during the run`;
          log(`!! ${ctx.lostProcess}`);
        }
      });
    },
    async retire(p) {
      stopping.add(p);
      await p.stop();
      procs.splice(procs.indexOf(p), 1);
    },
    ch: (sql, params) => chAt(storeUrl, sql, params),
    chRows: <T>(sql: string, params?: Record<string, string | number>) => chRowsAt<T>(storeUrl, sql, params),
    load: (spec) => runScript<LoadResult>('load', 'bench/load/http-load.ts', [JSON.stringify({ host: '127.0.0.1', ...spec })]),
    async cleanup() {
      for (const p of procs.reverse()) {
        stopping.add(p);
        await p.stop().catch(() => undefined);
      }
      await redisLocal.stop();
      if (!opts.keep) rmSync(dir, { recursive: true, force: true });
      else log(`kept ${dir}`);
    },
  };
  ctx.watch(store);
  ctx.watch(gateway);
  log(`store ${storeUrl}, gateway ${gateway.url} (idle RSS ${ctx.gatewayIdleRss} MB)`);
  return ctx;
}
