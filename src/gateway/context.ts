import type { TemplatedApp } from 'uWebSockets.js';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Account, AccountRegistry } from '../domain/account.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { RedisClient } from '../adapters/redis/client.js';
import type { RedisKeys } from '../adapters/redis/keys.js';
import type { RowStream } from '../adapters/redis/row-stream.js';
import type { IpHasher } from '../adapters/redis/ip-salt.js';
import type { JobQueues } from '../adapters/queues/job-queues.js';
import type { StoredEvent } from '../domain/stored-event.js';
import type { Pseudonyms } from '../domain/pseudonym.js';
import type { IngestIdentity, IngestPipeline } from '../ingest/index.js';
import type { HandlerOptions } from './http.js';
import type { RateLimiter } from './rate-limit.js';

/** Presence updates from outside ingest (ingest applies presence inside its own Redis call). */
export interface PresenceWriter {
  apply(account: Account, events: readonly StoredEvent[]): Promise<void>;
}

/** What every route module gets: config, stores and the capabilities wired at start. */
export interface GatewayContext {
  config: Config;
  accounts: AccountRegistry;
  log: Logger;
  redis: RedisClient;
  keys: RedisKeys;
  /** Queries for the admin API (a ClickHouse server, the store role, or embedded chdb). */
  ch: ClickHouseClient;
  rows: RowStream;
  ipHasher: IpHasher;
  /** How log lines name persons and visitors: `ctx.ids.personLogId(account, id)` for `person=`. */
  ids: Pseudonyms;
  metrics: Metrics;
  rateLimiter: RateLimiter;
  handlerOpts: HandlerOptions;
  identity: IngestIdentity;
  presence: PresenceWriter;
  /** The ingest pipeline every ingesting route uses. */
  ingest: IngestPipeline;
  /** Readiness checks contributed by each part; `/readyz` runs them all. */
  readiness: Map<string, () => Promise<string | undefined>>;
  /** BullMQ producer (erasure, backfill) and job status; unset when no queue is wired. */
  jobs?: JobQueues;
}

/** A capability's routes: registered on the app with the shared context. */
export type RouteModule = (app: TemplatedApp, ctx: GatewayContext) => void;
