import { setTimeout as sleep } from 'node:timers/promises';
import { Worker, type Job } from 'bullmq';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../../src/config.js';
import { kv, type Logger } from '../../src/logger.js';
import type { RedisClient } from '../../src/adapters/redis/client.js';
import type { RedisKeys } from '../../src/adapters/redis/keys.js';
import { ErasedStore } from '../../src/adapters/redis/erased.store.js';
import { rewriteAof } from '../../src/adapters/redis/aof.js';
import type { Pseudonyms } from '../../src/domain/pseudonym.js';
import { PresenceStore } from '../../src/adapters/redis/presence.store.js';
import { createQueueConnection } from '../../src/adapters/queues/connection.js';
import { bullPrefix } from '../../src/adapters/queues/job-queues.js';
import { QUEUES } from '../../src/adapters/queues/job.schema.js';
import { erasePersonProcessor, type PresenceForgetter } from './erasure.erase-person.js';
import { backfillProcessor } from './backfill.backfill-from-logs.js';

export interface JobWorkerDeps {
  config: Config;
  log: Logger;
  ch: ClickHouseClient;
  /** The service's Redis client (erasure marks, stream sweep). */
  redis: RedisClient;
  keys: RedisKeys;
  /** Where BullMQ connects (its own connections). */
  redisUrl?: string;
  clusterNodes?: string[];
  /** Live presence to forget erased visitors in. @defaultValue a PresenceStore on `redis` */
  presence?: PresenceForgetter;
  /** Keyed hashes of this data dir: erasure marks hold these, never ids. */
  ids: Pseudonyms;
}

export interface JobWorkers {
  workers: Worker[];
  /** Erasure marks: the flusher's filter comes from here. */
  erased: ErasedStore;
  /** Finish running jobs within the drain deadline; after it, running jobs stop between steps and are retried by the next worker. */
  stop(): Promise<void>;
}

/**
 * The one place that wires every job queue to its processor: concurrency from
 * `JOB_CONCURRENCY`, lock time from `JOB_LOCK_MS` (a job whose worker died is picked up again
 * after it), and a drain on stop bounded by a share of `SHUTDOWN_TIMEOUT_MS`.
 */
export function bootJobWorkers(deps: JobWorkerDeps): JobWorkers {
  const { config } = deps;
  const log = deps.log;
  const erased = new ErasedStore(deps.redis, deps.keys, deps.ids);
  const abort = new AbortController();
  const connection = createQueueConnection({ url: deps.redisUrl, clusterNodes: deps.clusterNodes, name: 'jobs-worker' });
  connection.on('error', (err: Error) => log.warn({ err }, '[jobs] redis connection error'));
  const common = {
    connection,
    prefix: bullPrefix(deps.keys),
    concurrency: config.JOB_CONCURRENCY,
    lockDuration: config.JOB_LOCK_MS,
    // A stalled job (its worker died) is noticed within one lock time and moved back to wait.
    stalledInterval: config.JOB_LOCK_MS,
    maxStalledCount: 3,
  };
  const settleMs = Math.min(5000, Math.max(1000, 2 * config.FLUSH_INTERVAL_MS));
  const workers = [
    new Worker(
      QUEUES.erasure.queue,
      erasePersonProcessor({
        ch: deps.ch,
        erased,
        log,
        presence: deps.presence ?? new PresenceStore(deps.redis, deps.keys),
        cluster: config.CLICKHOUSE_CLUSTER,
        settleMs,
        // A rewrite of a large AOF takes seconds per GB; past a minute the job reports `failed`.
        rewriteAof: (signal) =>
          rewriteAof(deps.redis, { timeoutMs: 60_000, signal }).catch((err: unknown) => {
            log.warn({ err }, '[erasure] append-only file rewrite failed');
            return 'failed' as const;
          }),
        rawLogIds: config.LOG_PERSON_IDS === 'raw',
        signal: abort.signal,
      }),
      common,
    ),
    new Worker(QUEUES.backfill.queue, backfillProcessor({ ch: deps.ch, erased, log, signal: abort.signal }), common),
  ];
  for (const w of workers) {
    w.on('failed', (job: Job | undefined, err: Error) => {
      const attempts = job?.opts.attempts ?? 1;
      const final = !job || job.attemptsMade >= attempts || err.name === 'UnrecoverableError';
      log[final ? 'error' : 'warn'](
        { err, queue: w.name, job: job?.id, attempt: job?.attemptsMade },
        `[jobs] ${kv({ queue: w.name, job: job?.id, outcome: final ? 'failed' : 'retry', attempt: job?.attemptsMade, of: attempts, reason: err.message })}`,
      );
    });
    w.on('completed', (job: Job) => {
      log.info({ queue: w.name, job: job.id }, `[jobs] ${kv({ queue: w.name, job: job.id, outcome: 'completed', attempt: job.attemptsMade })}`);
    });
    w.on('error', (err: Error) => log.error({ err, queue: w.name }, '[jobs] worker error'));
  }
  log.info({ queues: workers.map((w) => w.name), concurrency: config.JOB_CONCURRENCY }, '[jobs] workers started');

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // The whole service must stop within SHUTDOWN_TIMEOUT_MS: jobs get half of it to finish,
      // then are told to stop between steps, and a fifth more before we stop waiting.
      const closing = Promise.all(workers.map((w) => w.close())).then(() => true);
      let drained = await Promise.race([closing, sleep(config.SHUTDOWN_TIMEOUT_MS * 0.5).then(() => false)]);
      if (!drained) {
        abort.abort();
        drained = await Promise.race([closing, sleep(config.SHUTDOWN_TIMEOUT_MS * 0.2).then(() => false)]);
      }
      log.info({ drained }, '[jobs] stopped');
      connection.disconnect();
    })());
  return { workers, erased, stop };
}
