import type { TemplatedApp } from 'uWebSockets.js';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Account, AccountRegistry } from '../accounts.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { RedisClient } from '../adapters/redis/client.js';
import type { RedisKeys } from '../adapters/redis/keys.js';
import type { RowStream, StreamRow } from '../adapters/redis/row-stream.js';
import type { IpHasher } from '../adapters/redis/ip-salt.js';
import type { JobQueues } from '../adapters/queues/job-queues.js';
import type { StoredEvent } from '../domain/stored-event.js';
import type { Pseudonyms } from '../domain/pseudonym.js';
import type { HandlerOptions } from './http.js';
import type { RateLimiter } from './rate-limit.js';

/** How ingest learns who a browser is (identity capability). */
export interface IngestIdentity {
  /** The person of a valid `mxy_v` cookie value, or undefined (an invalid one is logged, not trusted). */
  personFromCookie(account: Account, cookie: string | undefined, now: number): Promise<string | undefined>;
  /** Rows to append with the events, atomically (e.g. the identity edge of a first-seen binding). */
  rowsFor(account: Account, events: readonly StoredEvent[]): Promise<StreamRow[]>;
}

/** How ingest updates live presence (presence capability). Called after the events are in Redis. */
export interface IngestPresence {
  apply(account: Account, events: readonly StoredEvent[]): Promise<void>;
}

export const noIdentity: IngestIdentity = {
  personFromCookie: async () => undefined,
  rowsFor: async () => [],
};

export const noPresence: IngestPresence = { apply: async () => undefined };

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
  presence: IngestPresence;
  /** Readiness checks contributed by each part; `/readyz` runs them all. */
  readiness: Map<string, () => Promise<string | undefined>>;
  /** BullMQ producer (erasure, backfill) and job status; unset when no queue is wired. */
  jobs?: JobQueues;
}

/** A capability's routes: registered on the app with the shared context. */
export type RouteModule = (app: TemplatedApp, ctx: GatewayContext) => void;
