import { Redis, Cluster, type RedisOptions } from 'ioredis';
import { defineScripts } from './scripts.js';
import type { Logger } from '../../logger.js';

export type RedisClient = Redis | Cluster;

export interface RedisConnectOptions {
  url?: string;
  /** `host:port` seeds for Redis Cluster; wins over `url`. */
  clusterNodes?: string[];
  /** Blocking readers and subscribers need their own connection; they set this. */
  role?: string;
  /**
   * Fail commands at once while disconnected instead of queueing them: the gateway answers 503
   * and the client retries, rather than holding requests open on a dead Redis.
   */
  failFast?: boolean;
  /** Where connection errors go (ioredis prints unhandled ones to the console otherwise). */
  log?: Logger;
}

/**
 * Log connection errors through pino, at most one line per 5 s per client: a Redis restart
 * otherwise repeats the same ECONNREFUSED on every reconnect attempt.
 */
function reportErrors(client: RedisClient, log: Logger | undefined, role: string | undefined): void {
  let last = 0;
  client.on('error', (err: Error) => {
    const now = Date.now();
    if (now - last < 5_000) return;
    last = now;
    log?.warn({ err, role }, '[redis] connection error; reconnecting');
  });
}

const common: RedisOptions = {
  // Requests are answered only once Redis has the event: pipelining many requests' commands
  // into one write is what makes that cheap.
  enableAutoPipelining: true,
  maxRetriesPerRequest: null,
  enableOfflineQueue: true,
  lazyConnect: false,
};

/** A client with every Lua script of `redis/` defined as a command. */
export function connectRedis(opts: RedisConnectOptions): RedisClient {
  let client: RedisClient;
  const extra: RedisOptions = opts.failFast ? { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 5000 } : {};
  if (opts.clusterNodes && opts.clusterNodes.length > 0) {
    client = new Cluster(
      opts.clusterNodes.map((n) => {
        const [host, port] = n.split(':');
        return { host: host!, port: Number(port) };
      }),
      { enableAutoPipelining: true, redisOptions: { ...common, ...extra, connectionName: opts.role }, enableOfflineQueue: !opts.failFast },
    );
  } else {
    if (!opts.url) throw new Error('connectRedis needs a url or cluster nodes');
    client = new Redis(opts.url, { ...common, ...extra, connectionName: opts.role });
  }
  reportErrors(client, opts.log, opts.role);
  defineScripts(client);
  return client;
}

/** A second connection with the same target (for XREADGROUP BLOCK and SUBSCRIBE). */
export function duplicateRedis(client: RedisClient, log?: Logger, role?: string): RedisClient {
  const dup: RedisClient = client instanceof Cluster ? client.duplicate() : client.duplicate();
  reportErrors(dup, log, role);
  defineScripts(dup);
  return dup;
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/** Resolve once the client is connected and ready (needed before fail-fast commands). */
export async function redisReady(client: RedisClient, timeoutMs = 15_000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`redis not ready within ${timeoutMs} ms`)), timeoutMs);
    client.once('ready', () => {
      clearTimeout(t);
      resolve();
    });
  });
}
