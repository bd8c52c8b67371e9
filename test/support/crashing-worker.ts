/**
 * A real flush worker process that kills itself with SIGKILL right after its first insert and
 * before acknowledging: the entries stay pending under its consumer name, as after a crash.
 * argv: REDIS_URL CLICKHOUSE_URL DATABASE REDIS_PREFIX ACCOUNT
 */
import { Metrics } from '../../src/metrics.js';
import { createLogger } from '../../src/logger.js';
import { createClickHouse } from '../../src/adapters/clickhouse/client.js';
import { connectRedis, duplicateRedis, redisReady } from '../../src/adapters/redis/client.js';
import { RedisKeys } from '../../src/adapters/redis/keys.js';
import { StreamFlusher } from '../../workers/flush/stream.flusher.js';

const [redisUrl, chUrl, database, prefix, account] = process.argv.slice(2) as [string, string, string, string, string];
const redis = connectRedis({ url: redisUrl });
await redisReady(redis);
const ch = await createClickHouse({ url: chUrl, dataPath: '', database });
const flusher = new StreamFlusher(duplicateRedis(redis), redis, ch, new RedisKeys(prefix), () => [account], createLogger('silent'), new Metrics(), {
  batchSize: 1000,
  intervalMs: 200,
  reclaimIdleMs: 60_000,
  // One batch at a time: the kill comes after exactly one insert.
  inFlight: 1,
  consumer: 'crashing-worker',
  afterInsert: (entries) => {
    process.stdout.write(`inserted ${entries.length}\n`);
    process.kill(process.pid, 'SIGKILL');
  },
});
flusher.start();
