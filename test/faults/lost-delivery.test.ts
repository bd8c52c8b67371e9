/**
 * A read whose reply never arrives (the connection drops after Redis handed the entries over):
 * Redis counts the entries as delivered to the worker, which never saw them. They must go idle
 * and be reclaimed like a dead consumer's, not be kept claimed by the worker's claim refresh,
 * which once renewed every pending entry of its consumer, held or not, so they stayed pending
 * for good and never reached ClickHouse.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { storedEvent } from '../../src/domain/stored-event.js';
import { FLUSH_GROUP, RedisKeys } from '../../src/adapters/redis/keys.js';
import { eventually, randomId, rows, type TestRedis } from '../support/services.js';
import { useFixture } from '../support/fixture.js';

let redis: TestRedis;
const fx = useFixture();

beforeAll(async () => {
  redis = await fx.redis();
});

describe('fault: a stream read whose reply is lost', () => {
  it('reclaims and stores the entries Redis delivered to a live worker that never saw them', async () => {
    const account = randomId('acct');
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const stream = new RedisKeys(prefix).eventStream(account);
    const client = fx.redisClient(redis.url) as Redis;
    const t = await fx.start({ redisUrl: redis.url, accounts: [account], env: { ROLES: 'store,worker', REDIS_PREFIX: prefix, RECLAIM_IDLE_MS: '2000' } });

    // The worker's consumer, once its first read has named it.
    const consumer = await eventually(async () => {
      const list = (await client.xinfo('CONSUMERS', stream, FLUSH_GROUP).catch(() => [])) as unknown[][];
      return list.length === 1 ? String(list[0]![1]) : undefined;
    }, 20_000);

    // Appended and delivered to that consumer in one transaction, so the worker's own blocked
    // read never gets them: exactly what a reply lost on the way looks like to Redis.
    const eventId = randomUUID();
    const row = storedEvent({ account_id: account, event_id: eventId, type: 'pageview', session_id: 's-lost', visitor_id: 'v-lost', path: '/lost' });
    const [added, delivered] = (await client
      .multi()
      .xadd(stream, '*', 't', 'events', 'r', JSON.stringify(row))
      .xreadgroup('GROUP', FLUSH_GROUP, consumer, 'COUNT', 10, 'STREAMS', stream, '>')
      .exec()) as [[null, string], [null, [string, [string, string[]][]][]]];
    const entryId = added[1];
    expect(delivered[1][0]![1].map(([id]) => id)).toEqual([entryId]);
    // Pending under the worker's consumer (the sampler's rows may be pending beside it).
    const pendingOf = async () => ((await client.xpending(stream, FLUSH_GROUP, entryId, entryId, 1)) as [string, string][]).map(([id, c]) => `${id} ${c}`);
    expect(await pendingOf()).toEqual([`${entryId} ${consumer}`]);

    // Reclaimed after the idle time (2 s; the worker looks every 2 s), stored once, acknowledged.
    await eventually(
      async () => {
        const [r] = await rows<{ n: string }>(t.ch, 'SELECT count() AS n FROM events WHERE event_id = {id:String}', { id: eventId });
        return Number(r!.n) === 1 && (await pendingOf()).length === 0;
      },
      20_000,
      200,
    );
    expect(t.messages().some((m) => m.includes('reclaimed pending entries'))).toBe(true);
  });
});
