import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { DestinationStream } from 'pino';
import { AccountRegistry, type Account } from '../domain/account.js';
import type { Pseudonyms } from '../domain/pseudonym.js';
import { ensureDemoAccount, loadAccountsFile } from '../accounts.js';
import type { Config } from '../config.js';
import { createLogger, flushLogger, type Logger } from '../logger.js';
import { Metrics } from '../metrics.js';
import { lockInstance, ownsDataDir } from '../instance-lock.js';
import type { DirLock } from '../adapters/fs/dir-lock.js';
import { createClickHouse, embeddedDataPath } from '../adapters/clickhouse/client.js';
import { migrate } from '../adapters/clickhouse/migrate.js';
import { connectRedis, redisReady, type RedisClient } from '../adapters/redis/client.js';
import { RedisKeys } from '../adapters/redis/keys.js';
import { startLocalRedis, type LocalRedis } from '../adapters/redis/launcher.js';
import { RowStream } from '../adapters/redis/row-stream.js';
import { loadPseudonyms } from '../adapters/secrets/pseudonym-key.store.js';

/** Ends one thing a start opened. A start's closers are in the order it opened them; they run last first. */
export type Closer = () => Promise<void> | void;

/** Run `closers` last first, each even when an earlier one failed (logged, not thrown). */
export async function closeAll(closers: readonly Closer[], log: Logger): Promise<void> {
  for (const c of [...closers].reverse()) {
    try {
      await c();
    } catch (err) {
      log.warn({ err }, 'error during shutdown');
    }
  }
}

/**
 * Start a role's parts with `open`, which pushes a closer for each part it opens. If it throws,
 * what it had opened is closed before the error goes on; otherwise its closers come back with
 * what it returned, for the caller to run on stop.
 */
export async function startRole<T extends object>(log: Logger, open: (closers: Closer[]) => Promise<T>): Promise<T & { closers: Closer[] }> {
  const closers: Closer[] = [];
  try {
    return Object.assign(await open(closers), { closers });
  } catch (err) {
    await closeAll(closers, log);
    throw err;
  }
}

export interface BaseOptions {
  /** Where logs go (tests pass a file or a stream to read the JSON lines back). */
  logDestination?: DestinationStream;
}

/** What every role stands on: one per process, started before any role. */
export interface ServiceBase {
  config: Config;
  log: Logger;
  accounts: AccountRegistry;
  /** Keyed hashes of this data dir (erasure marks, log pseudonyms). */
  ids: Pseudonyms;
  metrics: Metrics;
  /** The DATA_DIR lock, when this process keeps state there. */
  lock?: DirLock;
  /** Where the embedded chdb keeps its data (the store role serves it). */
  chdbPath: string;
  /** The private, supervised redis-server (REDIS_URL and REDIS_CLUSTER_NODES unset). */
  localRedis?: LocalRedis;
  /** The Redis URL other connections use: REDIS_URL or the private server's; unset for a cluster. */
  redisUrl?: string;
  clusterNodes?: string[];
  keys: RedisKeys;
  /** The main connection: waits out a Redis restart. */
  redis: RedisClient;
  /** The account streams through the main connection (readiness reads their length). */
  rows: RowStream;
  clickhouse: ClickHouseClient;
  /** Checks behind /readyz (served by the gateway). */
  readiness: Map<string, () => Promise<string | undefined>>;
  /** Checks behind /livez: only what a restart of this process would mend. */
  liveness: Map<string, () => string | undefined>;
  /** Where the demo account's admin key was written, when the demo account is in use. */
  demoAdminKeyFile?: string;
  /** Everything opened so far, base first; the roles' closers are pushed here as they start. */
  closers: Closer[];
  /** Run every closer, last pushed first, then flush the log. Idempotent: a second call waits for the first. */
  stop(): Promise<void>;
  /** Last resort when the process exits without a finished `stop()`: end the private redis-server. */
  abort(): void;
}

async function loadAccounts(config: Config, log: Logger): Promise<{ accounts: Account[]; demoKeyFile?: string }> {
  if (config.ACCOUNTS_FILE) return { accounts: await loadAccountsFile(config.ACCOUNTS_FILE) };
  const { account, adminKeyFile } = await ensureDemoAccount(config.DATA_DIR);
  log.info({ adminKeyFile }, '[accounts] no ACCOUNTS_FILE: using the demo account (its admin key is in the file adminKeyFile names)');
  return { accounts: [account], demoKeyFile: adminKeyFile };
}

/**
 * The shared base of every role: the instance lock (before anything else), accounts, pseudonyms,
 * Redis (the private supervised server unless REDIS_URL or a cluster is given), ClickHouse with
 * its migrations, readiness and liveness checks, metrics. On failure it closes what it opened.
 */
export async function startBase(config: Config, opts: BaseOptions = {}): Promise<ServiceBase> {
  const log = createLogger(config.LOG_LEVEL, opts.logDestination);
  const closers: Closer[] = [];
  let local: LocalRedis | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await closeAll(closers, log);
      await flushLogger(log);
    })());

  try {
    const chdbPath = config.CLICKHOUSE_DATA_PATH ?? embeddedDataPath(config.DATA_DIR);
    // Before anything else: a second instance on this DATA_DIR must stop here, having touched nothing.
    const lock = ownsDataDir(config, chdbPath) ? await lockInstance(config) : undefined;
    if (lock) closers.push(() => lock.release());
    const { accounts: accountList, demoKeyFile } = await loadAccounts(config, log);
    const accounts = new AccountRegistry(accountList);
    const ids = await loadPseudonyms(config.DATA_DIR, config.LOG_PERSON_IDS);
    // Each module declares its own metrics; the stream length is set by the readiness check below.
    const metrics = new Metrics().describe('visitor_stream_length', 'gauge', 'Entries waiting in the account stream');

    let redisUrl = config.REDIS_URL;
    const clusterNodes = config.REDIS_CLUSTER_NODES?.split(',');
    if (!redisUrl && !clusterNodes) {
      const started = await startLocalRedis(path.join(config.DATA_DIR, 'redis'), log.child({ module: 'redis' }), {
        supervision: { maxRestarts: config.REDIS_MAX_RESTARTS },
        passwordFile: path.join(config.DATA_DIR, 'credentials', '_redis', 'password'),
      });
      local = started;
      redisUrl = started.url;
      closers.push(() => started.stop());
    }
    const keys = new RedisKeys(config.REDIS_PREFIX);
    const redis = connectRedis({ url: redisUrl, clusterNodes, role: 'main', log });
    closers.push(() => void redis.disconnect());
    await redisReady(redis);

    // Every role reads or writes ClickHouse: the store serves it, the worker inserts, the gateway's admin API reads.
    const clickhouse = await createClickHouse({ url: config.CLICKHOUSE_URL, dataPath: chdbPath, database: config.CLICKHOUSE_DATABASE });
    closers.push(() => clickhouse.close());
    await migrate(clickhouse, log.child({ module: 'migrate' }), { cluster: config.CLICKHOUSE_CLUSTER });

    const readiness = new Map<string, () => Promise<string | undefined>>();
    // While the private Redis is being restarted the supervisor knows before a ping times out.
    readiness.set('redis', async () => local?.problem ?? ((await redis.ping()) === 'PONG' ? undefined : 'no PONG'));
    // Liveness fails only for what a restart of this process would mend: a Redis given up on.
    const liveness = new Map<string, () => string | undefined>();
    if (local) {
      const supervised = local;
      liveness.set('redis', () => supervised.failure);
    }
    const rows = new RowStream(redis, keys, config.STREAM_CAP);
    // Backpressure alarm: past 80 % of the cap the flusher is falling behind ClickHouse.
    readiness.set('stream', async () => {
      const full: string[] = [];
      for (const a of accounts.ids()) {
        const n = await rows.length(a);
        metrics.set('visitor_stream_length', n, { account: a });
        if (n >= config.STREAM_CAP * 0.8) full.push(`${a}=${n}`);
      }
      return full.length ? `backpressure: stream near its cap of ${config.STREAM_CAP} (${full.join(', ')})` : undefined;
    });
    readiness.set('clickhouse', async () => {
      const r = await clickhouse.ping();
      return r.success ? undefined : `unreachable: ${r.error.message}`;
    });

    return {
      config,
      log,
      accounts,
      ids,
      metrics,
      lock,
      chdbPath,
      localRedis: local,
      redisUrl,
      clusterNodes,
      keys,
      redis,
      rows,
      clickhouse,
      readiness,
      liveness,
      demoAdminKeyFile: demoKeyFile,
      closers,
      stop,
      abort: () => local?.kill(),
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
