/**
 * Redis is down and the operator asks who is online: the answer is a 503 the client may retry
 * (with Retry-After), never a 500, and it is logged at error as an `[api-error]` line.
 */
import { describe, expect, it } from 'vitest';
import { useTestService } from '../support/fixture.js';
import { restartableRedis, type RestartableRedis } from './support/restartable-redis.js';

let redis: RestartableRedis;

const t = useTestService(async (fx) => {
  redis = await restartableRedis(fx);
  return { redisUrl: redis.url };
});

describe('fault: Redis down under /api/online', () => {
  it('answers 503 store-unavailable with Retry-After', async () => {
    const get = () => fetch(`${t.url}/api/online`, { headers: { authorization: `Bearer ${t.account.adminKey}` }, signal: AbortSignal.timeout(10_000) });
    expect((await get()).status).toBe(200);
    await redis.stop();
    const res = await get();
    const body = (await res.json()) as { code: string };
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(body.code).toBe('GW_ERR_STORE_UNAVAILABLE');
    expect(t.messages().some((m) => m.startsWith('[api-error]') && m.includes('status=503') && m.includes('route=online'))).toBe(true);
    // Back up, so the service can stop cleanly.
    await redis.start();
  });
});
