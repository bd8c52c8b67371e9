import { z } from 'zod';
import { parseTrustProxy } from './domain/trusted-proxy.js';

/**
 * The only module that reads `process.env`. One zod schema, parsed once at start;
 * a bad value stops start-up with one message naming every bad variable.
 */

const zRole = z.enum(['gateway', 'worker', 'store']);

const zBool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const zEnv = z.object({
  /** @defaultValue 8080 */
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** @defaultValue 0.0.0.0 */
  HOST: z.string().min(1).default('0.0.0.0'),
  /**
   * Let several gateways listen on one PORT on purpose (SO_REUSEPORT: the kernel spreads
   * connections). Off, a start on a port in use refuses. @defaultValue false
   */
  GATEWAY_SHARED_PORT: zBool.default(false),
  /** @defaultValue ./data */
  DATA_DIR: z.string().min(1).default('./data'),
  /** Unset: start a local redis-server under DATA_DIR/redis. */
  REDIS_URL: z.string().url().optional(),
  /**
   * Restarts of that private redis-server allowed within a minute; one more and the service
   * reports itself unhealthy (`/healthz` 503) instead of retrying. @defaultValue 10
   */
  REDIS_MAX_RESTARTS: z.coerce.number().int().min(1).max(1000).default(10),
  /** Comma-separated `host:port` seeds: run against Redis Cluster instead of REDIS_URL. */
  REDIS_CLUSTER_NODES: z
    .string()
    .regex(/^[^,\s]+:\d+(,[^,\s]+:\d+)*$/, 'expected host:port[,host:port…]')
    .optional(),
  /** Unset: embedded chdb under DATA_DIR/clickhouse. */
  CLICKHOUSE_URL: z.string().url().optional(),
  /** Embedded chdb data path. @defaultValue DATA_DIR/clickhouse */
  CLICKHOUSE_DATA_PATH: z.string().min(1).optional(),
  /** @defaultValue visitor */
  CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'expected a plain identifier')
    .default('visitor'),
  /** When set, migrations create replicated tables ON CLUSTER with a distributed `events`. */
  CLICKHOUSE_CLUSTER: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'expected a plain identifier')
    .optional(),
  /** Loopback port on which role `store` serves ClickHouse's HTTP interface over chdb. @defaultValue 8123 */
  STORE_PORT: z.coerce.number().int().min(0).max(65535).default(8123),
  /**
   * Longest run of one admin analytics query (`/api/*` tools), passed to ClickHouse as
   * `max_execution_time`; past it the API answers 504 `GW_ERR_QUERY_TIMEOUT`. @defaultValue 10000
   */
  ADMIN_QUERY_TIMEOUT_MS: z.coerce.number().int().min(1).max(3_600_000).default(10_000),
  ACCOUNTS_FILE: z.string().min(1).optional(),
  /** @defaultValue gateway,worker,store */
  ROLES: z
    .string()
    .default('gateway,worker,store')
    .transform((s) =>
      s
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean),
    )
    .pipe(z.array(zRole).min(1)),
  /** Namespace of every Redis key (BullMQ queues included). @defaultValue v */
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/)
    .default('v'),
  /** @defaultValue info */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Largest accepted request body in bytes. @defaultValue 65536 */
  MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(10_485_760).default(65_536),
  /** Requests per second allowed per client IP (token bucket, burst = 2×). @defaultValue 200 */
  RATE_LIMIT_PER_IP: z.coerce.number().int().min(1).default(200),
  /** Stream length per account above which ingest answers 503 instead of growing Redis. @defaultValue 1000000 */
  STREAM_CAP: z.coerce.number().int().min(100).default(1_000_000),
  /**
   * A gateway answers 503 (Retry-After: 1) to an ingest request while its account's oldest call
   * waiting for Redis has waited this long: past what Redis keeps up with, a quick refusal the
   * snippet retries, instead of answers that come ever later from a queue that only grows.
   * @defaultValue 500
   */
  INGEST_QUEUE_MAX_MS: z.coerce.number().int().min(10).max(60_000).default(500),
  /**
   * Flush a batch at this many events… (chdb's cost per insert is largely fixed: a backlog drains
   * about twice as fast in batches of 50,000 as of 10,000) @defaultValue 50000
   */
  FLUSH_BATCH_SIZE: z.coerce.number().int().min(1).max(200_000).default(50_000),
  /** …or when its oldest event is this old. @defaultValue 1000 */
  FLUSH_INTERVAL_MS: z.coerce.number().int().min(10).default(1000),
  /**
   * Batches a worker has in ClickHouse at once (each holds up to FLUSH_BATCH_SIZE rows in
   * memory). Three let one worker read the next batch while two inserts run (bench flush phase,
   * one worker through the store, alternating in one sitting: 63–71k against 44–56k rows/s in
   * three of four rounds; no change with the worker in the store process). @defaultValue 3
   */
  FLUSH_IN_FLIGHT: z.coerce.number().int().min(1).max(8).default(3),
  /** A pending entry idle this long belongs to a dead consumer and is reclaimed. @defaultValue 30000 */
  RECLAIM_IDLE_MS: z.coerce.number().int().min(100).default(30_000),
  /**
   * Gateway processes on the gateway port (more cores): the first one supervises the others,
   * which need ClickHouse over HTTP (the store role's URL, or CLICKHOUSE_URL). @defaultValue 1
   */
  GATEWAY_WORKERS: z.coerce.number().int().min(1).max(64).default(1),
  /**
   * Which hops in front of the gateway are proxies whose `X-Forwarded-For` entry is believed:
   * `false` (ignore the header), a hop count (`1`: one proxy; `true` is an alias of 1), or a
   * comma list of addresses and CIDR ranges (`127.0.0.1/8,10.0.0.0/8,::1`). Falsy when off.
   * @defaultValue false
   */
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const trust = parseTrustProxy(v);
      if (trust && 'error' in trust) {
        ctx.addIssue({ code: 'custom', message: trust.error });
        return z.NEVER;
      }
      return trust;
    }),
  /**
   * Most bytes of one answer the gateway keeps waiting for a client that does not read it as
   * fast as it is written; a connection with more waiting is closed (0: as soon as an answer
   * does not fit the socket at once). @defaultValue 4194304
   */
  HTTP_MAX_BUFFERED_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .max(268_435_456)
    .default(4 * 1024 * 1024),
  /** Hard deadline for draining on SIGTERM. @defaultValue 10000 */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /** BullMQ worker concurrency per queue. @defaultValue 2 */
  JOB_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  /** Presence sweeper period: a timed-out visitor's `leave` is sent at most this late. @defaultValue 1000 */
  PRESENCE_SWEEP_MS: z.coerce.number().int().min(10).max(60_000).default(1000),
  /** One concurrency sample per account per this period into `presence_samples`. @defaultValue 60000 */
  PRESENCE_SAMPLE_MS: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
  /** Bytes buffered for one slow live WebSocket client before it is dropped. @defaultValue 1048576 */
  LIVE_MAX_BACKPRESSURE: z.coerce.number().int().min(1024).max(67_108_864).default(1_048_576),
  /** Visitors listed in a live feed's first snapshot. @defaultValue 1000 */
  LIVE_SNAPSHOT_VISITORS: z.coerce.number().int().min(0).max(10_000).default(1000),
  /** Tries per job (erasure, backfill), the first included; jobs are idempotent. @defaultValue 5 */
  JOB_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(5),
  /** First retry delay of a failed job, doubled on each further retry. @defaultValue 2000 */
  JOB_BACKOFF_MS: z.coerce.number().int().min(10).default(2000),
  /** Job lock time: a job whose worker died is taken up again after about this long. @defaultValue 30000 */
  JOB_LOCK_MS: z.coerce.number().int().min(500).default(30_000),
  /** Largest `POST /api/backfill` body (the log text travels in it). @defaultValue 33554432 */
  BACKFILL_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(268_435_456)
    .default(32 * 1024 * 1024),
  /**
   * How long a gateway trusts its cached answer to "was this person erased?" when checking a
   * visitor token (the check is on the ingest hot path). A token revoked by an erasure is
   * rejected everywhere at most this long after it. @defaultValue 2000
   */
  TOKEN_REVOCATION_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(2000),
  /**
   * How log lines name persons and visitors: `pseudonym` (`person=ps_…`, a keyed hash, stable
   * per id) keeps ids out of log files, which erasure cannot reach; `raw` writes the ids.
   * @defaultValue pseudonym
   */
  LOG_PERSON_IDS: z.enum(['pseudonym', 'raw']).default('pseudonym'),
});

export type Config = Readonly<z.infer<typeof zEnv>>;
export type Role = z.infer<typeof zRole>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parse an environment (default: `process.env`) into a frozen config, or throw one error naming every bad key. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = zEnv.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return Object.freeze(parsed.data);
}

/** The `visitor` CLI's environment: where the service is and which admin key to use. */
export const zCliEnv = z.object({
  /** @defaultValue http://127.0.0.1:8080 */
  VISITOR_URL: z.string().url().default('http://127.0.0.1:8080'),
  VISITOR_KEY: z.string().min(1).optional(),
  /** File holding the admin key (e.g. DATA_DIR/credentials/demo/admin-key). */
  VISITOR_KEY_FILE: z.string().min(1).optional(),
  /**
   * Set by `npm run` to the directory it was run from (npm runs scripts in the package root):
   * relative file names given to the CLI are resolved against it.
   */
  INIT_CWD: z.string().min(1).optional(),
});

export type CliConfig = Readonly<z.infer<typeof zCliEnv>>;

export function loadCliConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  const parsed = zCliEnv.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(`invalid configuration:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  }
  return Object.freeze(parsed.data);
}
