import os from 'node:os';
import { duplicateRedis } from '../src/adapters/redis/client.js';
import { PresenceStore } from '../src/adapters/redis/presence.store.js';
import { IdentityMergeReporter } from '../src/identity/index.js';
import { startRole, type Closer, type ServiceBase } from '../src/runtime/base.start.js';
import { StreamFlusher } from './flush/stream.flusher.js';
import { bootJobWorkers } from './jobs/boot.js';
import { PresenceSweeper } from './presence/presence.sweeper.js';

export interface WorkerRole {
  flusher: StreamFlusher;
  sweeper: PresenceSweeper;
  /** In the order they were opened; run last first on stop. */
  closers: Closer[];
}

/** A name no other worker process shares: stream consumer, sweep lock holder. */
const uniqueName = () => `${os.hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

/**
 * The worker role: the stream flusher (Redis to ClickHouse), the presence sweeper, the BullMQ
 * job workers (erasure, backfill) and the identity merge reporter.
 */
export function startWorker(base: ServiceBase): Promise<WorkerRole> {
  const { config, log, accounts, keys, redis, clickhouse, metrics, ids } = base;
  return startRole(log, async (closers) => {
    const reader = duplicateRedis(redis, log, 'flush-reader');
    closers.push(() => void reader.disconnect());
    const flusher = new StreamFlusher(reader, redis, clickhouse, keys, () => accounts.ids(), log.child({ module: 'flush' }), metrics, {
      batchSize: config.FLUSH_BATCH_SIZE,
      intervalMs: config.FLUSH_INTERVAL_MS,
      reclaimIdleMs: config.RECLAIM_IDLE_MS,
      inFlight: config.FLUSH_IN_FLIGHT,
      consumer: uniqueName(),
    });
    // BullMQ jobs (erasure, backfill). The erasure filter is on before the first flush, so rows
    // of an erased person that waited in the stream through a restart are still dropped.
    const jobWorkers = bootJobWorkers({
      config,
      log: log.child({ module: 'jobs' }),
      ch: clickhouse,
      redis,
      keys,
      redisUrl: base.redisUrl,
      clusterNodes: base.clusterNodes,
      ids,
    });
    flusher.addFilter(jobWorkers.erased.filter);
    // Identity: notes the edge rows this flusher inserts and logs each merge once they settle.
    const mergeReporter = new IdentityMergeReporter(redis, clickhouse, keys, log.child({ module: 'identity' }), jobWorkers.erased, ids);
    flusher.addFilter(mergeReporter.filter);
    mergeReporter.start();
    flusher.start();
    closers.push(() => flusher.stop());
    const sweeper = new PresenceSweeper(new PresenceStore(redis, keys), base.rows, () => accounts.ids(), log.child({ module: 'presence' }), metrics, {
      intervalMs: config.PRESENCE_SWEEP_MS,
      sampleMs: config.PRESENCE_SAMPLE_MS,
      holder: uniqueName(),
    });
    sweeper.start();
    closers.push(
      () => sweeper.stop(),
      () => jobWorkers.stop(),
      () => mergeReporter.stop(),
    );
    return { flusher, sweeper };
  });
}
