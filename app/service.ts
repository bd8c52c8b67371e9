import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AccountRegistry } from '../src/domain/account.js';
import type { Pseudonyms } from '../src/domain/pseudonym.js';
import type { Config } from '../src/config.js';
import type { Logger } from '../src/logger.js';
import type { RedisClient } from '../src/adapters/redis/client.js';
import type { RedisKeys } from '../src/adapters/redis/keys.js';
import type { LocalRedis } from '../src/adapters/redis/launcher.js';
import { redactUrlPassword } from '../src/adapters/secrets/store-credentials.js';
import type { GatewayContext } from '../src/gateway/context.js';
import type { GatewayServer } from '../src/gateway/server.js';
import type { GatewayWorkers, ProcessEntry } from '../src/gateway/workers.js';
import { startGatewayRole } from '../src/gateway/gateway.start.js';
import { startBase, type BaseOptions } from '../src/runtime/base.start.js';
import { startStore } from '../src/store/store.start.js';
import type { StreamFlusher } from '../workers/flush/stream.flusher.js';
import type { PresenceSweeper } from '../workers/presence/presence.sweeper.js';
import { startWorker } from '../workers/worker.start.js';

export type ServiceOptions = BaseOptions;

export interface Service {
  config: Config;
  log: Logger;
  accounts: AccountRegistry;
  redisUrl: string;
  keys: RedisKeys;
  redis: RedisClient;
  /** Keyed hashes of this data dir (erasure marks, log pseudonyms). */
  ids: Pseudonyms;
  clickhouse: ClickHouseClient;
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

/** This process's entry, which the extra gateway processes run too: `main.js` beside this file, or `main.ts` through tsx. */
function processEntry(): ProcessEntry {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith('.ts');
  return { file: path.join(path.dirname(here), ts ? 'main.ts' : 'main.js'), execArgv: ts ? ['--import', 'tsx'] : [] };
}

/**
 * Start the roles of `config.ROLES` in this process on one shared base: the store, then the
 * worker, then the gateway. `stop()` closes the gateway first, then the rest in reverse start order.
 */
export async function startService(config: Config, opts: ServiceOptions = {}): Promise<Service> {
  const roles = new Set(config.ROLES);
  const base = await startBase(config, opts);
  const { log } = base;
  try {
    const service: Service = {
      config,
      log,
      accounts: base.accounts,
      redisUrl: base.redisUrl ?? `cluster:${config.REDIS_CLUSTER_NODES}`,
      keys: base.keys,
      redis: base.redis,
      ids: base.ids,
      clickhouse: base.clickhouse,
      localRedis: base.localRedis,
      demoAdminKeyFile: base.demoAdminKeyFile,
      stop: base.stop,
      abort: base.abort,
    };

    // With CLICKHOUSE_URL set the store is that server: there is no chdb here to serve.
    if (roles.has('store') && !config.CLICKHOUSE_URL) {
      const store = await startStore(base);
      base.closers.push(...store.closers);
      // Printed at start-up as CLICKHOUSE_URL for the service's other processes; logged redacted.
      service.storeUrl = store.storeUrl;
    }
    if (roles.has('worker')) {
      const worker = await startWorker(base);
      base.closers.push(...worker.closers);
      service.flusher = worker.flusher;
      service.sweeper = worker.sweeper;
    }
    if (roles.has('gateway')) {
      const gw = await startGatewayRole(base, { storeUrl: service.storeUrl, processEntry: processEntry() });
      base.closers.push(...gw.closers);
      Object.assign(service, {
        gateway: gw.gateway,
        ctx: gw.ctx,
        gatewayUrl: gw.gatewayUrl,
        gatewayBound: gw.gatewayBound,
        gatewayWorkers: gw.gatewayWorkers,
      } satisfies Partial<Service>);
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
    await base.stop();
    throw err;
  }
}
