/**
 * Redis is down and the operator asks who is online: the answer is a 503 the client may retry
 * (with Retry-After), never a 500, and it is logged at error with the cause.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startLocalRedis, type LocalRedis } from '../../src/adapters/redis/launcher.js';
import { createLogger } from '../../src/logger.js';
import { removeTestData, startTestService, type TestService } from '../support/services.js';

let t: TestService;
let redis: LocalRedis;
let redisDir: string;
let port: number;
const log = createLogger('silent');

beforeAll(async () => {
  redisDir = await mkdtemp(path.join(os.tmpdir(), 'visitor-fault-redis-'));
  port = await freePort();
  redis = await startLocalRedis(redisDir, log, { port });
  t = await startTestService({ redisUrl: redis.url });
});

afterAll(async () => {
  // Back up first, so the service can close and the test data can go.
  redis = await startLocalRedis(redisDir, log, { port });
  await t?.stop();
  if (t) await removeTestData(t);
  await redis?.stop();
  await rm(redisDir, { recursive: true, force: true });
});

describe('fault: Redis down under /api/online', () => {
  it('answers 503 with Retry-After', async () => {
    const get = () => fetch(`${t.url}/api/online`, { headers: { authorization: `Bearer ${t.account.adminKey}` } });
    expect((await get()).status).toBe(200);
    await redis.stop();
    const res = await get();
    const body = (await res.json()) as { code: string };
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(body.code).toBe('GW_ERR_STORE_UNAVAILABLE');
    expect(t.messages().some((m) => m.startsWith('[api-error]') && m.includes('route=online') && m.includes('status=503'))).toBe(true);
  });
});
