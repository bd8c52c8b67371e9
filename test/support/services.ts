/**
 * The one helper that starts real services for integration tests: a real redis-server (a Docker
 * container through testcontainers when an engine is reachable, else a process on a free
 * loopback port), real chdb, and the service itself listening on a free port. Each service gets
 * its own namespace: a random Redis key prefix and a throwaway ClickHouse database. Test files
 * reach it through `fixture.ts`, which also ends what they started.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { ClickHouseClient } from '@clickhouse/client';
import { sha256Hex, type Account } from '../../src/domain/account.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startLocalRedis, type LocalRedis } from '../../src/adapters/redis/launcher.js';
import { connectRedis } from '../../src/adapters/redis/client.js';
import { startService, type Service } from '../../app/service.js';

/** One chdb data path per test process: chdb binds one path per process. */
export const CHDB_PATH = path.join(os.tmpdir(), `visitor-test-chdb-${process.pid}`);

/** A browser-like user agent (requests without one are treated as bots). */
export const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';

export interface TestRedis {
  url: string;
  stop(): Promise<void>;
}

/** True when a Docker engine answers (testcontainers can start containers). */
export async function dockerReachable(): Promise<boolean> {
  if (!existsSync('/var/run/docker.sock') && !process.env.DOCKER_HOST) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

/** A real Redis for a test file. */
export async function startTestRedis(): Promise<TestRedis> {
  if (await dockerReachable()) {
    const { GenericContainer } = await import('testcontainers');
    const c = await new GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
    return { url: `redis://${c.getHost()}:${c.getMappedPort(6379)}`, stop: async () => void (await c.stop()) };
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'visitor-test-redis-'));
  const local: LocalRedis = await startLocalRedis(dir, createLogger('silent'));
  return {
    url: local.url,
    stop: async () => {
      await local.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface TestAccount {
  id: string;
  adminKey: string;
  origin: string;
}

export interface TestServiceOptions {
  redisUrl?: string;
  /** Extra environment (e.g. ROLES, STREAM_CAP). */
  env?: Record<string, string>;
  /** Account ids to create (default: one random id). Each gets an admin key and an origin. */
  accounts?: string[];
  /** Reuse a data dir and namespace (to restart "the same" service). */
  reuse?: TestService;
  /** Extra account fields, by id. */
  accountFields?: Record<string, Partial<Account>>;
}

export interface TestService {
  service: Service;
  config: Config;
  url: string;
  dataDir: string;
  logFile: string;
  accounts: TestAccount[];
  /** The first account. */
  account: TestAccount;
  ch: ClickHouseClient;
  /** Every JSON log line written so far. */
  logs(): Record<string, unknown>[];
  /** Log messages (the `msg` field) so far. */
  messages(): string[];
  stop(): Promise<void>;
  /** Internals reused by a restart. */
  env: Record<string, string>;
}

export function randomId(prefix = 't'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Start the service (all roles unless env.ROLES says otherwise) on free ports. */
export async function startTestService(opts: TestServiceOptions = {}): Promise<TestService> {
  const reuse = opts.reuse;
  const dataDir = reuse?.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'visitor-test-')));
  await mkdir(dataDir, { recursive: true });
  let accounts: TestAccount[];
  let env: Record<string, string>;
  if (reuse) {
    accounts = reuse.accounts;
    env = { ...reuse.env, ...(opts.env ?? {}) };
  } else {
    const ids = opts.accounts ?? [randomId('acct')];
    accounts = ids.map((id, i) => ({ id, adminKey: randomBytes(18).toString('base64url'), origin: `https://site${i}-${id}.example` }));
    const file = path.join(dataDir, 'accounts.json');
    await writeFile(
      file,
      JSON.stringify({
        accounts: accounts.map((a) => ({
          id: a.id,
          origins: [a.origin, 'http://127.0.0.1:*', 'http://localhost:*'],
          adminKeySha256: [sha256Hex(a.adminKey)],
          listingUrl: `${a.origin}/listings/{slug}`,
          ...(opts.accountFields?.[a.id] ?? {}),
        })),
      }),
    );
    env = {
      DATA_DIR: dataDir,
      ACCOUNTS_FILE: file,
      PORT: '0',
      HOST: '127.0.0.1',
      STORE_PORT: '0',
      CLICKHOUSE_DATA_PATH: CHDB_PATH,
      CLICKHOUSE_DATABASE: `t_${randomBytes(6).toString('hex')}`,
      REDIS_PREFIX: `t${randomBytes(4).toString('hex')}`,
      LOG_LEVEL: 'debug',
      FLUSH_INTERVAL_MS: '100',
      RECLAIM_IDLE_MS: '2000',
      RATE_LIMIT_PER_IP: '100000',
      ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl } : {}),
      ...(opts.env ?? {}),
    };
  }
  const config = loadConfig(env);
  const logFile = path.join(dataDir, `service-${Date.now()}-${randomBytes(2).toString('hex')}.log`);
  const service = await startService(config, { logDestination: pino.destination({ dest: logFile, sync: true, mkdir: true }) });
  const readLogs = () =>
    readFileSync(logFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    service,
    config,
    url: service.gatewayUrl ?? '',
    dataDir,
    logFile,
    accounts,
    account: accounts[0]!,
    ch: service.clickhouse!,
    logs: readLogs,
    messages: () => readLogs().map((l) => String(l.msg ?? '')),
    stop: () => service.stop(),
    env,
  };
}

/** Remove a test service's data dir (after stop). */
export async function removeTestData(t: TestService): Promise<void> {
  await rm(t.dataDir, { recursive: true, force: true });
}

/** Poll until `fn` returns a truthy value (or throw after `timeoutMs`). */
/**
 * Holds Redis in a busy script for `ms` on a connection of its own, so that calls made meanwhile
 * wait (Redis falling behind, for real); resolves when Redis is free again.
 */
export async function holdRedis(url: string, ms: number): Promise<void> {
  const blocker = connectRedis({ url });
  await blocker.eval(
    "local t = redis.call('TIME') local stop = t[1] * 1e6 + t[2] + tonumber(ARGV[1]) * 1000 repeat t = redis.call('TIME') until t[1] * 1e6 + t[2] >= stop return 1",
    0,
    ms,
  );
  blocker.disconnect();
}

export async function eventually<T>(fn: () => Promise<T> | T, timeoutMs = 10_000, stepMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Rows of a ClickHouse query with parameters. */
export async function rows<T = Record<string, unknown>>(ch: ClickHouseClient, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await ch.query({ query, query_params: params, format: 'JSONEachRow' });
  return rs.json<T>();
}

/** A valid beacon event for an account, with overrides. */
export function beacon(account: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    account,
    type: 'pageview',
    sessionId: randomId('s'),
    visitorId: randomId('v'),
    path: '/listings/12-high-st',
    ...over,
  };
}

/** POST /v/event with a browser UA (and optional origin / content type). */
export async function postEvent(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/v/event`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': BROWSER_UA, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
