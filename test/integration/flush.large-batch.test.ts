/**
 * The largest batch the config allows (FLUSH_BATCH_SIZE=200000), read in one go: a backlog of
 * more than 120,000 entries comes back from one XREADGROUP, which once overflowed the call stack
 * (`out.push(...entries)`). Every row lands once, as its stored text, and the whole batch is
 * acknowledged and deleted.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { chTime, storedEvent } from '../../src/domain/stored-event.js';
import { FLUSH_GROUP, RedisKeys } from '../../src/adapters/redis/keys.js';
import { eventually, randomId, rows, type TestRedis, type TestService } from '../support/services.js';
import { useFixture } from '../support/fixture.js';

const BACKLOG = 130_000;
let redis: TestRedis;
let t: TestService | undefined;

const fx = useFixture();

beforeAll(async () => {
  redis = await fx.redis();
});

describe('flush: the largest allowed batch', () => {
  it('drains a backlog of 130,000 entries read in one batch, each row exactly once', async () => {
    const account = randomId('acct');
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const stream = new RedisKeys(prefix).eventStream(account);
    const client = new Redis(redis.url);
    const now = Date.now();
    // Written before any worker runs, so the first read returns the whole backlog.
    for (let i = 0; i < BACKLOG; i += 10_000) {
      const pipe = client.pipeline();
      for (let j = i; j < Math.min(BACKLOG, i + 10_000); j++) {
        const at = chTime(now - (BACKLOG - j));
        const row = storedEvent({
          account_id: account,
          event_id: randomUUID(),
          ts: at,
          received_at: at,
          type: j % 10 ? 'heartbeat' : 'pageview',
          session_id: `s-${j % 5000}`,
          visitor_id: `v-${j % 5000}`,
          path: `/p/${j % 50}`,
          title: 'T',
        });
        pipe.xadd(stream, '*', 't', 'events', 'r', JSON.stringify(row));
      }
      await pipe.exec();
    }
    expect(await client.xlen(stream)).toBe(BACKLOG);

    t = await fx.start({
      redisUrl: redis.url,
      accounts: [account],
      env: { ROLES: 'store,worker', REDIS_PREFIX: prefix, FLUSH_BATCH_SIZE: '200000', FLUSH_INTERVAL_MS: '1000' },
    });
    await eventually(async () => (await client.xlen(stream)) === 0, 240_000, 500);
    const [pending] = (await client.xpending(stream, FLUSH_GROUP)) as [number];
    expect(Number(pending)).toBe(0);

    const [stored] = await rows<{ n: string; distinct: string }>(
      t.ch,
      'SELECT count() AS n, uniqExact(event_id) AS distinct FROM events WHERE account_id = {a:String}',
      { a: account },
    );
    expect(Number(stored!.n)).toBe(BACKLOG);
    expect(Number(stored!.distinct)).toBe(BACKLOG);
    const flushes = t.logs().filter((l) => String(l.msg).startsWith('[flush] rows=') && (l.tables as Record<string, number> | undefined)?.events);
    // One flush took more than the ~120,000 entries a spread can pass, and every flush reported ok.
    expect(Math.max(...flushes.map((l) => Number(l.rows)))).toBeGreaterThan(120_000);
    expect(flushes.every((l) => l.outcome === 'ok' && typeof l.ms === 'number')).toBe(true);
    expect(t.messages().filter((m) => m.includes('loop error'))).toEqual([]);
    client.disconnect();
  }, 300_000);
});
