/**
 * The service's own redis-server (REDIS_URL unset) is killed with SIGKILL while clients post.
 * The supervisor starts it again on the same port and AOF: ingest answers 204 again within
 * seconds, `/readyz` answers 503 while it is down and `/healthz` stays 200, the flusher, the
 * presence subscriber and the BullMQ workers carry on, and every event answered 204 is stored
 * exactly once. A Redis that cannot come back (its AOF manifest corrupted) is given up on after
 * REDIS_MAX_RESTARTS restarts, and only then `/healthz` answers 503.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/services.js';
import { CLOSE_RESYNC } from '../../src/gateway/live.ws.js';
import { LiveClient, wsUrl } from '../integration/presence.live-client.js';
import { useTestService } from '../support/fixture.js';
import { Ledger, writeReport } from './support/ledger.js';

// No redisUrl: the service starts and supervises its own redis-server under DATA_DIR/redis.
// After the second test Redis is gone for good the drain cannot finish (main.ts would exit at
// SHUTDOWN_TIMEOUT_MS), so the stop gets a bounded time.
const t = useTestService({ env: { REDIS_MAX_RESTARTS: '8' }, stopWithinMs: 10_000 });

/**
 * One event every 10 ms, each request on its own (not waiting for the one before): requests held
 * across the kill do not stop new ones from arriving while Redis is down.
 */
function sendLoop(ledger: Ledger, url: string, account: string) {
  const inflight = new Set<Promise<number>>();
  const timer = setInterval(() => {
    const p = ledger.post(url, account, 1);
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  }, 10);
  return async () => {
    clearInterval(timer);
    await Promise.all(inflight);
  };
}

/**
 * `/readyz` and `/healthz` probed every 25 ms, each probe on its own (a readiness check may take
 * its 2 s limit while Redis is down): the statuses seen and the reasons given for Redis.
 */
function probeLoop(url: string) {
  const seen = { ready: new Map<number, number>(), health: new Map<number, number>(), redisReasons: new Set<string>() };
  const inflight = new Set<Promise<void>>();
  const probe = async (route: string, into: Map<number, number>) => {
    const res = await fetch(`${url}${route}`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
    if (!res) return;
    into.set(res.status, (into.get(res.status) ?? 0) + 1);
    const body = (await res.json()) as { checks: Record<string, string> };
    if (route === '/readyz' && body.checks.redis !== 'ok') seen.redisReasons.add(body.checks.redis!);
  };
  const timer = setInterval(() => {
    for (const p of [probe('/readyz', seen.ready), probe('/healthz', seen.health)]) {
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
  }, 25);
  return {
    seen,
    stop: async () => {
      clearInterval(timer);
      await Promise.all(inflight);
    },
  };
}

/** Listen on `port` as soon as the killed server has let go of it; connections are dropped. */
async function holdPort(port: number): Promise<{ close(): Promise<void> }> {
  const server = net.createServer((s) => s.destroy());
  await eventually(
    () =>
      new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(port, '127.0.0.1', () => resolve(true));
      }),
    5000,
    2,
  );
  return { close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function api(method: string, route: string, body?: unknown): Promise<Response> {
  return fetch(`${t.url}${route}`, {
    method,
    headers: { authorization: `Bearer ${t.account.adminKey}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
}

describe('fault: the private Redis is killed', () => {
  it('restarts it on the same port and AOF, and every accepted event lands exactly once', async () => {
    const local = t.service.localRedis!;
    expect(local.state).toBe('up');
    const account = t.account.id;
    const live = await LiveClient.connect(wsUrl(t.url, '/live', { account, key: t.account.adminKey }));
    await live.waitFor((m) => m.type === 'snapshot');

    const ledger = new Ledger('redis-supervised', [account]);
    for (let i = 0; i < 10; i++) await ledger.post(t.url, account, 10);
    const stopSending = sendLoop(ledger, t.url, account);
    const probes = probeLoop(t.url);
    await eventually(() => (ledger.statuses['204'] ?? 0) >= 40, 20_000);

    const killed = local.pid!;
    const acceptedBeforeKill = ledger.accepted.size;
    process.kill(killed, 'SIGKILL');
    const killedAt = Date.now();
    // Another program takes the port for a second, so the first restarts fail and back off (and
    // the outage is long enough for the probes to see it, however loaded the machine is).
    const squatter = await holdPort(local.port);
    await new Promise((r) => setTimeout(r, 1000));
    await squatter.close();
    await eventually(() => local.state === 'up' && local.pid !== killed, 15_000, 10);
    // Ingest answers 204 again, for a request sent after the restart.
    await eventually(async () => (await ledger.post(t.url, account, 1)) === 204, 15_000, 20);
    const recoveredMs = Date.now() - killedAt;
    const acceptedAtRecovery = ledger.accepted.size;
    await eventually(() => ledger.accepted.size >= acceptedAtRecovery + 100, 30_000);
    await stopSending();
    await probes.stop();

    expect(local.port).toBe(Number(new URL(t.service.redisUrl).port));
    // At least one restart failed on the taken port before one succeeded.
    expect(local.restarts).toBeGreaterThanOrEqual(2);
    expect(t.messages()).toContain('[redis] redis-server restart failed');
    expect(recoveredMs).toBeLessThan(10_000);
    expect(probes.seen.ready.get(503)).toBeGreaterThan(0);
    expect([...probes.seen.redisReasons].some((r) => /exited .* ago; restarting it/.test(r))).toBe(true);
    expect([...probes.seen.health.keys()]).toEqual([200]);
    // Requests of the outage were held (at most the gateway connection's command timeout) or
    // refused with 503 for the client to retry: none failed otherwise or went unanswered.
    expect(Object.keys(ledger.statuses).filter((s) => s !== '204' && s !== '503')).toEqual([]);

    // A live feed open across the outage is never left stale: it keeps receiving, or is told to
    // start over (diffs published before the subscriber was back are lost to it).
    const across = `v-across-${Date.now()}`;
    expect(await ledger.post(t.url, account, 1, {}, { visitorId: across })).toBe(204);
    await eventually(() => live.closedWith === CLOSE_RESYNC || live.about(across).some((m) => m.type === 'join'), 15_000);
    live.close();
    // The presence subscriber subscribed again: a feed opened now sees a join.
    const fresh = await LiveClient.connect(wsUrl(t.url, '/live', { account, key: t.account.adminKey }));
    await fresh.waitFor((m) => m.type === 'snapshot');
    const after = `v-after-${Date.now()}`;
    expect(await ledger.post(t.url, account, 1, {}, { visitorId: after })).toBe(204);
    await fresh.waitFor((m) => m.type === 'join' && m.visitor?.visitorId === after, 15_000);
    fresh.close();

    // The BullMQ worker and producer reconnected: a job runs to completion.
    const queued = await api('POST', '/api/backfill', {
      logs: `2026-11-20T08:15:02.120Z [property-recommended] account=${account} session=s-bf listing=12-high-st rec=r-bf person=p-bf\n`,
    });
    expect(queued.status).toBe(202);
    const { jobId } = (await queued.json()) as { jobId: string };
    await eventually(async () => ((await (await api('GET', `/api/jobs/${jobId}`)).json()) as { state: string }).state === 'completed', 30_000, 200);

    // The flusher resumed on its consumer group: nothing pending, nothing left in the stream.
    await ledger.settle(t);
    const result = await ledger.verify(t.ch);
    writeReport(ledger, result, { recoveredMs, acceptedBeforeKill, restarts: local.restarts });
    expect(result.missing).toEqual([]);
    expect(result.duplicated).toEqual([]);
    expect(result.foreign).toEqual([]);
    expect(result.accepted).toBeGreaterThan(acceptedBeforeKill + 100);
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
    expect(t.messages()).toContain('[redis] redis-server exited unexpectedly');
    expect(t.messages()).toContain('[redis] redis-server is back');
  });

  it('gives up on a Redis that cannot come back, and only then /healthz answers 503', async () => {
    const local = t.service.localRedis!;
    const aofDir = path.join(t.dataDir, 'redis', 'appendonlydir');
    const manifest = readdirSync(aofDir).find((f) => f.endsWith('.manifest'))!;
    writeFileSync(path.join(aofDir, manifest), 'not a manifest\n');
    process.kill(local.pid!, 'SIGKILL');

    await eventually(() => local.state === 'failed', 30_000, 50);
    const health = await fetch(`${t.url}/healthz`);
    const body = (await health.json()) as { status: string; checks: Record<string, string> };
    expect(health.status).toBe(503);
    expect(body.status).toBe('unhealthy');
    expect(body.checks.redis).toMatch(/restarts within/);
    expect((await fetch(`${t.url}/readyz`)).status).toBe(503);
    // Every restart within the window counts, the first test's included.
    expect(body.checks.redis).toMatch(/^8 restarts within 60000 ms/);
    expect(t.messages()).toContain('[redis] giving up on redis-server; the service is unhealthy');
  });
});
