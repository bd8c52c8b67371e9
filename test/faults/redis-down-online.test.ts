/**
 * Redis is down and the operator asks who is online: the answer is a 503 the client may retry
 * (with Retry-After), never a 500, and it is logged at error as an `[api-error]` line.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, startLocalRedis, type LocalRedis } from '../../src/adapters/redis/launcher.js';
import { createLogger } from '../../src/logger.js';
import { useTestService } from '../support/fixture.js';

let redis: LocalRedis;
let redisDir: string;
let port: number;
const log = createLogger('silent');

const t = useTestService(async (fx) => {
  redisDir = fx.trackDir(await mkdtemp(path.join(os.tmpdir(), 'visitor-fault-redis-')));
  port = await freePort();
  redis = await startLocalRedis(redisDir, log, { port });
  // The test replaces `redis` with a restarted server, so the service can stop cleanly.
  fx.track(() => redis.stop());
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
    redis = await startLocalRedis(redisDir, log, { port });
  });
});
