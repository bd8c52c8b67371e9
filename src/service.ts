import os from 'node:os';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { DestinationStream } from 'pino';
import { AccountRegistry, type Account } from './domain/account.js';
import { ensureDemoAccount, loadAccountsFile } from './accounts.js';
import type { Config } from './config.js';
import { createLogger, flushLogger, type Logger } from './logger.js';
import { Metrics } from './metrics.js';
import { createClickHouse, embeddedDataPath } from './adapters/clickhouse/client.js';
import { migrate } from './adapters/clickhouse/migrate.js';
import { connectRedis, duplicateRedis, redisReady, type RedisClient } from './adapters/redis/client.js';
import { RedisKeys } from './adapters/redis/keys.js';
import { freePort, startLocalRedis, type LocalRedis } from './adapters/redis/launcher.js';
import { lockInstance, ownsDataDir } from './instance-lock.js';
import { RowStream } from './adapters/redis/row-stream.js';
import { IpHasher } from './adapters/redis/ip-salt.js';
import { type GatewayContext, type RouteModule } from './gateway/context.js';
import { RateLimiter } from './gateway/rate-limit.js';
import { IngestPipeline } from './ingest/index.js';
import { startGateway, type GatewayServer } from './gateway/server.js';
import { GatewayWorkers } from './gateway/workers.js';
import { ingestRoutes } from './gateway/ingest.routes.js';
import { healthRoutes } from './gateway/health.routes.js';
import { webRoutes } from './gateway/web.routes.js';
import { startStore } from './store/store.start.js';
import { redactUrlPassword } from './adapters/secrets/store-credentials.js';
import { StreamFlusher } from '../workers/flush/stream.flusher.js';
import { PresenceStore, PresenceSubscriber } from './adapters/redis/presence.store.js';
import { presenceRoutes } from './gateway/presence.routes.js';
import { LiveHub, liveRoutes } from './gateway/live.ws.js';
import { PresenceSweeper } from '../workers/presence/presence.sweeper.js';
import { TokenSecretStore } from './adapters/secrets/token-secret.store.js';
import { loadPseudonyms } from './adapters/secrets/pseudonym-key.store.js';
import { ErasedStore } from './adapters/redis/erased.store.js';
import type { Pseudonyms } from './domain/pseudonym.js';
import { IdentityMergeReporter, IdentityService } from './identity/index.js';
import { identityRoutes } from './gateway/identity.routes.js';
import { bootJobWorkers } from '../workers/jobs/boot.js';
import { JobQueues } from './adapters/queues/job-queues.js';
import { createQueueConnection } from './adapters/queues/connection.js';
import { jobsRoutes } from './gateway/jobs.routes.js';
import { analyticsRoutes } from './gateway/analytics.routes.js';
import { chartsRoutes } from './gateway/charts.routes.js';

export interface ServiceOptions {
  /** Where logs go (tests pass a file or a stream to read the JSON lines back). */
  logDestination?: DestinationStream;
}

export interface Service {
  config: Config;
  log: Logger;
  accounts: AccountRegistry;
  redisUrl: string;
  keys: RedisKeys;
  redis: RedisClient;
  /** Keyed hashes of this data dir (erasure marks, log pseudonyms). */
  ids: Pseudonyms;
  clickhouse?: ClickHouseClient;
  gateway?: GatewayServer;
  /** The loopback (or configured host's) URL to reach the gateway from this machine. */
  gatewayUrl?: string;
  /** What the gateway is bound to, for the start banner: `0.0.0.0:8080 = every interface (…)`. */
  gatewayBound?: string;
  storeUrl?: string;
  flusher?: StreamFlusher;
  sweeper?: PresenceSweeper;
  ctx?: GatewayContext;
  /** The private, supervised redis-server (REDIS_URL unset). */
  localRedis?: LocalRedis;
  /** The extra gateway processes (GATEWAY_WORKERS > 1). */
  gatewayWorkers?: GatewayWorkers;
  /** Where the demo account's admin key was written, when the demo account is in use. */
  demoAdminKeyFile?: string;
  stop(): Promise<void>;
  /**
   * Last resort when the process exits without a finished `stop()` (drain deadline passed):
   * end what would outlive it, the private redis-server.
   */
  abort(): void;
}

const ALL_INTERFACES: Record<string, string> = { '0.0.0.0': '127.0.0.1', '::': '[::1]' };

/** The URL to use on this machine, and a true account of what the listen socket accepts. */
export function gatewayAddress(host: string, port: number): { gatewayUrl: string; gatewayBound: string } {
  const loopback = ALL_INTERFACES[host];
  const urlHost = loopback ?? (host.includes(':') ? `[${host}]` : host);
  const bound = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    gatewayUrl: `http://${urlHost}:${port}`,
    gatewayBound: loopback ? `${bound} = every interface, other machines included (HOST=127.0.0.1 keeps it on this one)` : bound,
  };
}

async function loadAccounts(config: Config, log: Logger): Promise<{ accounts: Account[]; demoKeyFile?: string }> {
  if (config.ACCOUNTS_FILE) return { accounts: await loadAccountsFile(config.ACCOUNTS_FILE) };
  const { account, adminKeyFile } = await ensureDemoAccount(config.DATA_DIR);
  log.info({ adminKeyFile }, `[accounts] no ACCOUNTS_FILE: using the demo account; its admin key is in ${adminKeyFile}`);
  return { accounts: [account], demoKeyFile: adminKeyFile };
}

/** Start the roles of `config.ROLES` in this process; `stop()` drains and closes them in order. */
export async function startService(config: Config, opts: ServiceOptions = {}): Promise<Service> {
  const log = createLogger(config.LOG_LEVEL, opts.logDestination);
  const roles = new Set(config.ROLES);
  const closers: (() => Promise<void> | void)[] = [];
  // Idempotent: a second stop (a signal during a drain, a test cleaning up) waits for the first.
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const c of [...closers].reverse()) {
        try {
          await c();
        } catch (err) {
          log.warn({ err }, 'error during shutdown');
        }
      }
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

    let local: LocalRedis | undefined;
    let redisUrl = config.REDIS_URL;
    const clusterNodes = config.REDIS_CLUSTER_NODES?.split(',');
    if (!redisUrl && !clusterNodes) {
      local = await startLocalRedis(path.join(config.DATA_DIR, 'redis'), log.child({ module: 'redis' }), {
        supervision: { maxRestarts: config.REDIS_MAX_RESTARTS },
        passwordFile: path.join(config.DATA_DIR, 'credentials', '_redis', 'password'),
      });
      redisUrl = local.url;
      closers.push(() => local!.stop());
    }
    const keys = new RedisKeys(config.REDIS_PREFIX);
    const redis = connectRedis({ url: redisUrl, clusterNodes, role: 'main', log });
    closers.push(() => void redis.disconnect());
    await redisReady(redis);

    const needsClickHouse = roles.has('worker') || roles.has('store') || roles.has('gateway');
    let clickhouse: ClickHouseClient | undefined;
    if (needsClickHouse) {
      clickhouse = await createClickHouse({ url: config.CLICKHOUSE_URL, dataPath: chdbPath, database: config.CLICKHOUSE_DATABASE });
      closers.push(() => clickhouse!.close());
      await migrate(clickhouse, log.child({ module: 'migrate' }), { cluster: config.CLICKHOUSE_CLUSTER });
    }

    const service: Service = {
      config,
      log,
      accounts,
      redisUrl: redisUrl ?? `cluster:${config.REDIS_CLUSTER_NODES}`,
      keys,
      redis,
      ids,
      clickhouse,
      localRedis: local,
      stop,
      abort: () => local?.kill(),
      demoAdminKeyFile: demoKeyFile,
    };
    const readiness = new Map<string, () => Promise<string | undefined>>();
    // While the private Redis is being restarted the supervisor knows before a ping times out.
    readiness.set('redis', async () => local?.problem ?? ((await redis.ping()) === 'PONG' ? undefined : 'no PONG'));
    // Liveness fails only for what a restart of this process would mend: a Redis given up on.
    const liveness = new Map<string, () => string | undefined>();
    if (local) liveness.set('redis', () => local!.failure);
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
    if (clickhouse) {
      const ch = clickhouse;
      readiness.set('clickhouse', async () => {
        const r = await ch.ping();
        return r.success ? undefined : `unreachable: ${r.error.message}`;
      });
    }

    if (roles.has('store') && !config.CLICKHOUSE_URL) {
      const store = await startStore({ dataDir: config.DATA_DIR, chdbPath, port: config.STORE_PORT, log: log.child({ module: 'store' }) });
      // Printed at start-up as CLICKHOUSE_URL for the service's other processes; logged redacted.
      service.storeUrl = store.storeUrl;
      // Closers run last-pushed first.
      closers.push(...[...store.closers].reverse());
    }

    if (roles.has('worker')) {
      const reader = duplicateRedis(redis, log, 'flush-reader');
      closers.push(() => void reader.disconnect());
      const flusher = new StreamFlusher(reader, redis, clickhouse!, keys, () => accounts.ids(), log.child({ module: 'flush' }), metrics, {
        batchSize: config.FLUSH_BATCH_SIZE,
        intervalMs: config.FLUSH_INTERVAL_MS,
        reclaimIdleMs: config.RECLAIM_IDLE_MS,
        consumer: `${os.hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      });
      // BullMQ jobs (erasure, backfill). The erasure filter is on before the first flush, so rows
      // of an erased person that waited in the stream through a restart are still dropped.
      const jobWorkers = bootJobWorkers({ config, log: log.child({ module: 'jobs' }), ch: clickhouse!, redis, keys, redisUrl, clusterNodes, ids });
      flusher.addFilter(jobWorkers.erased.filter);
      // Identity: notes the edge rows this flusher inserts and logs each merge once they settle.
      const mergeReporter = new IdentityMergeReporter(redis, clickhouse!, keys, log.child({ module: 'identity' }), jobWorkers.erased, ids);
      flusher.addFilter(mergeReporter.filter);
      mergeReporter.start();
      flusher.start();
      service.flusher = flusher;
      closers.push(() => flusher.stop());
      const sweeper = new PresenceSweeper(new PresenceStore(redis, keys), rows, () => accounts.ids(), log.child({ module: 'presence' }), metrics, {
        intervalMs: config.PRESENCE_SWEEP_MS,
        sampleMs: config.PRESENCE_SAMPLE_MS,
        holder: `${os.hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      });
      sweeper.start();
      service.sweeper = sweeper;
      closers.push(() => sweeper.stop());
      closers.push(() => jobWorkers.stop());
      closers.push(() => mergeReporter.stop());
    }

    if (roles.has('gateway')) {
      const gwRedis = connectRedis({ url: redisUrl, clusterNodes, role: `gateway-${process.pid}`, failFast: true, log });
      closers.push(() => void gwRedis.disconnect());
      await redisReady(gwRedis);
      const ipHasher = new IpHasher(gwRedis, keys);
      await ipHasher.ready();
      const rateLimiter = new RateLimiter(config.RATE_LIMIT_PER_IP);
      closers.push(() => rateLimiter.close());
      const identity = new IdentityService({
        redis: gwRedis,
        keys,
        secrets: new TokenSecretStore(config.DATA_DIR),
        erased: new ErasedStore(gwRedis, keys, ids),
        ids,
        log: log.child({ module: 'identity' }),
        revocationCacheMs: config.TOKEN_REVOCATION_CACHE_MS,
      });
      const jobConnection = createQueueConnection({ url: redisUrl, clusterNodes, name: 'jobs-producer' });
      jobConnection.on('error', (err: Error) => log.warn({ err }, '[jobs] queue connection error'));
      const jobQueues = new JobQueues({ connection: jobConnection, keys, attempts: config.JOB_ATTEMPTS, backoffMs: config.JOB_BACKOFF_MS });
      // A queue re-emits its connection's errors (logged above); without a listener BullMQ
      // prints each to the console while Redis is down.
      for (const q of [jobQueues.erasure, jobQueues.backfill]) q.on('error', (err: Error) => log.debug({ err, queue: q.name }, '[jobs] queue error'));
      closers.push(async () => {
        await jobQueues.close();
        jobConnection.disconnect();
      });
      // Presence writes go through the fail-fast connection like ingest; the diff subscription
      // gets its own connection that waits out a Redis restart and re-subscribes.
      const presenceStore = new PresenceStore(gwRedis, keys);
      const liveHub = new LiveHub(
        presenceStore,
        new PresenceSubscriber(duplicateRedis(redis, log, 'presence-subscriber'), keys, accounts.ids(), log.child({ module: 'live' })),
        log.child({ module: 'live' }),
        metrics,
        { maxBackpressure: config.LIVE_MAX_BACKPRESSURE, snapshotVisitors: config.LIVE_SNAPSHOT_VISITORS, snapshotPages: 50 },
      );
      closers.push(() => liveHub.close());
      await liveHub.start();
      const gwLog = log.child({ module: 'gateway' });
      const rowStream = new RowStream(gwRedis, keys, config.STREAM_CAP, {
        // The rows are in the stream; presence catches up on the visitor's next heartbeat.
        onPresenceFailures: (account, failed) => gwLog.error({ account, failed }, 'presence update failed'),
      });
      const ingest = new IngestPipeline(
        { identity, appender: rowStream, ipHasher, log: gwLog, metrics, personInLog: (account, person) => ids.personLogId(account, person) ?? person },
        accounts,
      );
      const ctx: GatewayContext = {
        config,
        accounts,
        log: gwLog,
        redis: gwRedis,
        keys,
        ch: clickhouse!,
        rows: rowStream,
        ipHasher,
        ids,
        metrics,
        rateLimiter,
        handlerOpts: {
          maxBodyBytes: config.MAX_BODY_BYTES,
          trustProxy: config.TRUST_PROXY,
          maxBufferedBytes: config.HTTP_MAX_BUFFERED_BYTES,
          log: log.child({ module: 'http' }),
        },
        identity,
        presence: presenceStore,
        ingest,
        readiness,
        jobs: jobQueues,
      };
      const modules: RouteModule[] = [
        healthRoutes(liveness),
        ingestRoutes,
        presenceRoutes(presenceStore),
        liveRoutes(liveHub),
        identityRoutes(identity),
        webRoutes,
        jobsRoutes,
        analyticsRoutes,
        chartsRoutes,
      ];
      // uWS shares a port between processes only when it was asked for that port: port 0 is resolved first.
      const port = config.GATEWAY_WORKERS > 1 && config.PORT === 0 ? await freePort() : config.PORT;
      const gateway = await startGateway(ctx, modules, config.HOST, port, { sharedPort: config.GATEWAY_SHARED_PORT || config.GATEWAY_WORKERS > 1 });
      service.gateway = gateway;
      service.ctx = ctx;
      Object.assign(service, gatewayAddress(config.HOST, gateway.port));
      lock?.update({ gateway: service.gatewayUrl });
      if (config.GATEWAY_WORKERS > 1) {
        const chUrl = config.CLICKHOUSE_URL ?? service.storeUrl;
        if (!chUrl)
          throw new Error('GATEWAY_WORKERS > 1 needs ClickHouse over HTTP for the other processes: the store role in this process, or CLICKHOUSE_URL');
        const workers = new GatewayWorkers({
          count: config.GATEWAY_WORKERS - 1,
          config,
          port: gateway.port,
          redisUrl,
          clickhouseUrl: chUrl,
          log: log.child({ module: 'gateway-workers' }),
        });
        closers.push(() => workers.stop());
        await workers.start();
        service.gatewayWorkers = workers;
      }
      // Closed first on stop: no new connections while the rest drains.
      closers.push(async () => {
        gateway.close();
        await new Promise((r) => setTimeout(r, 50));
      });
    }

    log.info(
      {
        roles: [...roles],
        gateway: service.gatewayUrl,
        store: service.storeUrl && redactUrlPassword(service.storeUrl),
        redis: redactUrlPassword(service.redisUrl),
        database: config.CLICKHOUSE_DATABASE,
      },
      `[service] started roles=${[...roles].join(',')}${service.gatewayUrl ? ` gateway=${service.gatewayUrl}` : ''}`,
    );
    return service;
  } catch (err) {
    await stop();
    throw err;
  }
}
