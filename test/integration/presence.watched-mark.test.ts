/**
 * The watched mark a gateway keeps for the accounts it has live clients of (the presence scripts
 * build diffs only for marked accounts): set before the subscription, kept alive past its TTL
 * while watched, left to lapse once unwatched. Against a real redis-server, with a short TTL.
 */
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/adapters/redis/keys.js';
import { PresenceSubscriber } from '../../src/adapters/redis/presence.store.js';
import { createLogger } from '../../src/logger.js';
import { eventually } from '../support/services.js';
import { useFixture, useTestRedis } from '../support/fixture.js';

const fx = useFixture();
const shared = useTestRedis(fx);
const TTL_MS = 300;

describe('presence watched mark', () => {
  it('is set when an account is watched, refreshed while it is, and lapses once it is not', async () => {
    const keys = new RedisKeys('wm');
    const conn = fx.redisClient(shared.redis.url);
    const subscriber = new PresenceSubscriber(conn, shared.client, keys, ['wm-a', 'wm-b'], createLogger('silent'), TTL_MS);
    fx.track(subscriber);
    await subscriber.start(() => undefined);
    const mark = keys.presenceWatched('wm-a');
    expect(await shared.client.exists(mark)).toBe(0);

    await subscriber.watch('wm-a');
    // Set before the subscription is confirmed, so no script in between skips a diff.
    expect(await shared.client.pttl(mark)).toBeGreaterThan(0);
    expect(await shared.client.exists(keys.presenceWatched('wm-b'))).toBe(0);
    // Three TTLs later it is still there: refreshed, not set once.
    await new Promise((r) => setTimeout(r, TTL_MS * 3));
    expect(await shared.client.exists(mark)).toBe(1);

    await subscriber.unwatch('wm-a');
    await eventually(async () => (await shared.client.exists(mark)) === 0 || undefined, TTL_MS * 5);
  });

  it('is set again as soon as the subscription comes back after its connection was lost', async () => {
    const keys = new RedisKeys('wm2');
    const conn = fx.redisClient(shared.redis.url);
    // A long TTL: only the reconnect can bring the mark back within the test.
    const subscriber = new PresenceSubscriber(conn, shared.client, keys, ['wm-c'], createLogger('silent'), 60_000);
    fx.track(subscriber);
    await subscriber.start(() => undefined);
    await subscriber.watch('wm-c');
    const mark = keys.presenceWatched('wm-c');
    // A Redis restart that lost the mark, as the subscriber sees it: the mark gone, the connection cut.
    await shared.client.del(mark);
    await shared.client.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await eventually(async () => (await shared.client.exists(mark)) === 1 || undefined, 5000);
  });
});
