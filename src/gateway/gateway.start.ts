import { duplicateRedis, connectRedis, redisReady } from '../adapters/redis/client.js';
import { freePort } from '../adapters/redis/launcher.js';
import { IpHasher } from '../adapters/redis/ip-salt.js';
import { RowStream } from '../adapters/redis/row-stream.js';
import { PresenceStore, PresenceSubscriber } from '../adapters/redis/presence.store.js';
import { ErasedStore } from '../adapters/redis/erased.store.js';
import { TokenSecretStore } from '../adapters/secrets/token-secret.store.js';
import { JobQueues } from '../adapters/queues/job-queues.js';
import { createQueueConnection } from '../adapters/queues/connection.js';
import { IngestPipeline } from '../ingest/index.js';
import { IdentityService } from '../identity/index.js';
import { startRole, type Closer, type ServiceBase } from '../runtime/base.start.js';
import { type GatewayContext, type RouteModule } from './context.js';
import { RateLimiter } from './rate-limit.js';
import { startGateway, type GatewayServer } from './server.js';
import { GatewayWorkers, type ProcessEntry } from './workers.js';
import { ingestRoutes } from './ingest.routes.js';
import { healthRoutes } from './health.routes.js';
import { webRoutes } from './web.routes.js';
import { presenceRoutes } from './presence.routes.js';
import { LiveHub, liveRoutes } from './live.ws.js';
import { identityRoutes } from './identity.routes.js';
import { jobsRoutes } from './jobs.routes.js';
import { analyticsRoutes } from './analytics.routes.js';
import { chartsRoutes } from './charts.routes.js';

export interface GatewayRoleOptions {
  /** The store role's URL when this process runs it: ClickHouse for the extra gateway processes. */
  storeUrl?: string;
  /** What the extra gateway processes run (GATEWAY_WORKERS > 1): the service's own process entry. */
  processEntry: ProcessEntry;
}

export interface GatewayRole {
  gateway: GatewayServer;
  ctx: GatewayContext;
  /** The loopback (or configured host's) URL to reach the gateway from this machine. */
  gatewayUrl: string;
  /** What the gateway is bound to, for the start banner: `0.0.0.0:8080 = every interface (…)`. */
  gatewayBound: string;
  /** The extra gateway processes (GATEWAY_WORKERS > 1). */
  gatewayWorkers?: GatewayWorkers;
  /** In the order they were opened; run last first on stop, so the listen socket closes first. */
  closers: Closer[];
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

/**
 * The gateway role: ingest, presence and the live feed, identity, the admin API, the web pages
 * and health, on PORT; with GATEWAY_WORKERS > 1 also the extra gateway processes on that port.
 */
export function startGatewayRole(base: ServiceBase, opts: GatewayRoleOptions): Promise<GatewayRole> {
  const { config, log, accounts, keys, redis, redisUrl, clusterNodes, ids, metrics } = base;
  return startRole(log, async (closers) => {
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
      new PresenceSubscriber(duplicateRedis(redis, log, 'presence-subscriber'), gwRedis, keys, accounts.ids(), log.child({ module: 'live' })),
      log.child({ module: 'live' }),
      metrics,
      { maxBackpressure: config.LIVE_MAX_BACKPRESSURE, snapshotVisitors: config.LIVE_SNAPSHOT_VISITORS, snapshotPages: 50 },
    );
    closers.push(() => liveHub.close());
    await liveHub.start();
    const gwLog = log.child({ module: 'gateway' });
    const rowStream = new RowStream(gwRedis, keys, config.STREAM_CAP, {
      maxQueueMs: config.INGEST_QUEUE_MAX_MS,
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
      ch: base.clickhouse,
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
      readiness: base.readiness,
      jobs: jobQueues,
    };
    const modules: RouteModule[] = [
      healthRoutes(base.liveness),
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
    const address = gatewayAddress(config.HOST, gateway.port);
    base.lock?.update({ gateway: address.gatewayUrl });
    let gatewayWorkers: GatewayWorkers | undefined;
    if (config.GATEWAY_WORKERS > 1) {
      const chUrl = config.CLICKHOUSE_URL ?? opts.storeUrl;
      if (!chUrl) throw new Error('GATEWAY_WORKERS > 1 needs ClickHouse over HTTP for the other processes: the store role in this process, or CLICKHOUSE_URL');
      const workers = new GatewayWorkers({
        count: config.GATEWAY_WORKERS - 1,
        config,
        entry: opts.processEntry,
        port: gateway.port,
        redisUrl,
        clickhouseUrl: chUrl,
        log: log.child({ module: 'gateway-workers' }),
      });
      closers.push(() => workers.stop());
      await workers.start();
      gatewayWorkers = workers;
    }
    // Closed first on stop: no new connections while the rest drains.
    closers.push(async () => {
      gateway.close();
      await new Promise((r) => setTimeout(r, 50));
    });
    return { gateway, ctx, ...address, gatewayWorkers };
  });
}
