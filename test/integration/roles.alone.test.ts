/**
 * Each role starts alone, in a process of its own (`ROLES=store`, `ROLES=gateway`, `ROLES=worker`
 * through `app/main.ts`, the entry `npm start` runs compiled), and does its job: the store
 * answers ClickHouse queries given its password and refuses them without; the gateway accepts an
 * event into the stream and flushes nothing itself; the worker, started last, moves that row
 * into ClickHouse. They share one Redis and one DATA_DIR, as in production.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { RedisKeys } from '../../src/adapters/redis/keys.js';
import type { RedisClient } from '../../src/adapters/redis/client.js';
import { beacon, eventually, postEvent, randomId, rows } from '../support/services.js';
import { useFixture } from '../support/fixture.js';
import { startInstanceProcess, type ServiceProcess } from '../support/processes.js';

const fx = useFixture();
const prefix = randomId('r').replace('-', '');
const database = `t_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
let env: Record<string, string>;
let dataDir: string;
let redis: RedisClient;
let store: ServiceProcess;
let ch: ClickHouseClient;

const eventCount = async () => Number((await rows<{ n: number | string }>(ch, 'SELECT count() AS n FROM events'))[0]!.n);

/** Start one role by itself on the shared Redis, DATA_DIR and database. */
function startAlone(roles: string, more: Record<string, string> = {}): Promise<ServiceProcess> {
  return startInstanceProcess({ env: { ...env, ROLES: roles, ...more }, logFile: path.join(dataDir, `${roles}.log`) });
}

beforeAll(async () => {
  const testRedis = await fx.redis();
  redis = fx.redisClient(testRedis.url);
  dataDir = fx.trackDir(await mkdtemp(path.join(os.tmpdir(), 'visitor-roles-alone-')));
  env = {
    DATA_DIR: dataDir,
    REDIS_URL: testRedis.url,
    REDIS_PREFIX: prefix,
    CLICKHOUSE_DATABASE: database,
    PORT: '0',
    HOST: '127.0.0.1',
    STORE_PORT: '0',
    LOG_LEVEL: 'info',
    FLUSH_INTERVAL_MS: '100',
  };
  store = fx.track(await startAlone('store'));
  // A plain ClickHouse client, as another process or Grafana would connect (the password in the URL).
  ch = createClient({ url: store.storeUrl!, database });
  fx.track(() => ch.close());
}, 90_000);

describe('each role alone in its own process', () => {
  it('store: serves ClickHouse over HTTP to the password it prints, and no gateway', async () => {
    expect(store.storeUrl).toMatch(/^http:\/\/visitor:[^@]+@127\.0\.0\.1:\d+$/);
    expect(store.url).toBeUndefined();
    // The migrations ran before the store took queries: the events table is there, empty.
    expect(await eventCount()).toBe(0);
    const u = new URL(store.storeUrl!);
    const refused = await fetch(`http://${u.host}/?query=${encodeURIComponent('SELECT 1')}`);
    expect(refused.ok).toBe(false);
    expect([401, 403]).toContain(refused.status);
  });

  let gateway: ServiceProcess;
  let sent: string;

  it('gateway: accepts an event into the stream, and flushes nothing itself', async () => {
    gateway = fx.track(await startAlone('gateway', { CLICKHOUSE_URL: store.storeUrl! }));
    expect(gateway.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(gateway.storeUrl).toBeUndefined();
    sent = randomUUID();
    expect((await postEvent(gateway.url!, beacon('demo', { eventId: sent }))).status).toBe(204);
    expect(await redis.xlen(new RedisKeys(prefix).eventStream('demo'))).toBe(1);
    // The line goes out through the asynchronous log destination: it may reach the file just after the 204.
    await eventually(() => gateway.messages().some((m) => m.startsWith('[visitor-event]')) || undefined);
    // Several flush intervals with no worker running: the row is still only in the stream.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await eventCount()).toBe(0);
    expect(gateway.messages().some((m) => m.startsWith('[flush]'))).toBe(false);
  });

  it('worker: flushes the row the gateway wrote to the stream, serving nothing', async () => {
    const worker = fx.track(await startAlone('worker', { CLICKHOUSE_URL: store.storeUrl! }));
    expect(worker.url).toBeUndefined();
    expect(worker.storeUrl).toBeUndefined();
    const stored = await eventually(async () => {
      const got = await rows<{ id: string }>(ch, 'SELECT toString(event_id) AS id FROM events');
      return got.length ? got : undefined;
    }, 20_000);
    expect(stored).toEqual([{ id: sent }]);
    await eventually(() => worker.messages().some((m) => m.startsWith('[flush] rows=')));

    // Each stops cleanly on SIGTERM, the store last (the others reach ClickHouse through it).
    for (const p of [gateway, worker, store]) {
      expect(await p.stop()).toBe(0);
      expect(p.messages()).toContain('[service] stopped');
    }
  });
});
