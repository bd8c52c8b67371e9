import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FLUSH_GROUP, RedisKeys } from '../../src/adapters/redis/keys.js';
import { beacon, eventually, postEvent, removeTestData, rows, startTestService, type TestService } from '../support/services.js';
import { useFixture, useTestRedis } from '../support/fixture.js';

const fx = useFixture();
const shared = useTestRedis(fx);

async function postMany(t: TestService, n: number, sessionId: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const e = beacon(t.account.id, { sessionId, path: `/d/${i}`, eventId: crypto.randomUUID() });
    const res = await postEvent(t.url, e);
    expect(res.status).toBe(204);
    ids.push(e.eventId as string);
  }
  return ids;
}

async function storedIds(t: TestService, sessionId: string): Promise<string[]> {
  const r = await rows<{ id: string }>(t.ch, 'SELECT toString(event_id) AS id FROM events WHERE session_id = {s:String} ORDER BY id', { s: sessionId });
  return r.map((x) => x.id);
}

/** A loopback TCP proxy that can refuse service: a real outage of whatever it fronts. */
async function outageProxy(target: URL): Promise<{ url: string; down(): void; up(): void; close(): void }> {
  let isDown = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    if (isDown) return inbound.destroy();
    const outbound = net.connect(Number(target.port), target.hostname);
    sockets.add(inbound).add(outbound);
    inbound.pipe(outbound).pipe(inbound);
    const drop = () => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://${target.username ? `${target.username}:${target.password}@` : ''}127.0.0.1:${port}`,
    down: () => {
      isDown = true;
      for (const s of sockets) s.destroy();
    },
    up: () => {
      isDown = false;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('durability of accepted events', () => {
  it('a worker killed after its insert and before its ack loses nothing and duplicates nothing', async () => {
    // Gateway + store in this process; the doomed worker is a real separate process.
    const t = await startTestService({ redisUrl: shared.redis.url, env: { ROLES: 'gateway,store' } });
    const sessionId = `s-crash-${Date.now()}`;
    const sent = await postMany(t, 30, sessionId);
    const stream = new RedisKeys(t.config.REDIS_PREFIX).eventStream(t.account.id);

    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.resolve('test/support/crashing-worker.ts'),
        shared.redis.url,
        t.service.storeUrl!,
        t.config.CLICKHOUSE_DATABASE,
        t.config.REDIS_PREFIX,
        t.account.id,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exit = await new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, signal) => r(signal)));
    expect(exit).toBe('SIGKILL');
    expect(out).toContain('inserted 30');
    // Inserted, never acknowledged: the 30 entries are pending under the dead consumer.
    expect(await storedIds(t, sessionId)).toEqual([...sent].sort());
    const pending = (await shared.client.xpending(stream, FLUSH_GROUP)) as [number, ...unknown[]];
    expect(pending[0]).toBe(30);

    // A healthy worker (small reclaim idle time) claims the dead consumer's entries.
    const worker = await startTestService({ reuse: t, env: { ROLES: 'worker', CLICKHOUSE_URL: t.service.storeUrl!, RECLAIM_IDLE_MS: '500' } });
    await eventually(async () => ((await shared.client.xpending(stream, FLUSH_GROUP)) as [number])[0] === 0, 20_000);
    expect(await storedIds(t, sessionId)).toEqual([...sent].sort());
    expect(worker.messages()).toContain('[flush] skipped re-delivered rows already in ClickHouse');
    await eventually(async () => (await shared.client.xlen(stream)) === 0);
    await worker.stop();
    await t.stop();
  });

  it('while ClickHouse is unavailable events wait in the stream, and land once when it returns', async () => {
    const t = await startTestService({ redisUrl: shared.redis.url, env: { ROLES: 'gateway,store' } });
    const proxy = await outageProxy(new URL(t.service.storeUrl!));
    const worker = await startTestService({ reuse: t, env: { ROLES: 'worker', CLICKHOUSE_URL: proxy.url } });
    const stream = new RedisKeys(t.config.REDIS_PREFIX).eventStream(t.account.id);
    proxy.down();
    const sessionId = `s-outage-${Date.now()}`;
    const sent = await postMany(t, 25, sessionId);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await storedIds(t, sessionId)).toEqual([]);
    // Other rows (presence samples) share the stream; count the events.
    const waiting = (await shared.client.xrange(stream, '-', '+')).filter(([, f]) => f[1] === 'events');
    expect(waiting.length).toBe(25);
    expect(worker.messages().some((m) => m.startsWith('[flush] insert failed'))).toBe(true);
    proxy.up();
    await eventually(async () => (await storedIds(t, sessionId)).length === 25, 20_000);
    expect(await storedIds(t, sessionId)).toEqual([...sent].sort());
    await eventually(async () => (await shared.client.xlen(stream)) === 0);
    await worker.stop();
    proxy.close();
    await t.stop();
  });

  it('a restart of the whole service (its own redis-server included) keeps what was accepted', async () => {
    // No REDIS_URL: the service starts its own redis-server with AOF under DATA_DIR/redis.
    const first = await startTestService({ env: { ROLES: 'gateway' } });
    const sessionId = `s-restart-${Date.now()}`;
    const sent = await postMany(first, 40, sessionId);
    await first.stop();
    const second = await startTestService({ reuse: first, env: { ROLES: 'gateway,worker,store' } });
    await eventually(async () => (await storedIds(second, sessionId)).length === 40, 20_000);
    expect(await storedIds(second, sessionId)).toEqual([...sent].sort());
    await second.stop();
    await removeTestData(second);
  });
});
