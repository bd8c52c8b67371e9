/**
 * GATEWAY_WORKERS=2: two gateway processes on one port under the service's supervisor. Both
 * take ingest, every event lands once, the live feed of either sees joins ingested by the
 * other, and stopping the service stops the worker.
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { BROWSER_UA, beacon, eventually, rows } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { LiveClient, wsUrl } from './presence.live-client.js';

const t = useTestService({ withRedis: true, env: { GATEWAY_WORKERS: '2' } }, 120_000);

/** One request on its own connection, so the kernel may hand it to either process. */
function post(body: unknown): Promise<number> {
  const data = JSON.stringify(body);
  const u = new URL(`${t.url}/v/event`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'user-agent': BROWSER_UA, 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

describe('GATEWAY_WORKERS=2', () => {
  it('serves ingest from two processes on one port, each event exactly once', async () => {
    const workers = t.service.gatewayWorkers!;
    expect(workers.pids()).toHaveLength(1);
    const events = Array.from({ length: 200 }, (_, i) => beacon(t.account.id, { eventId: crypto.randomUUID(), path: `/w/${i}` }));
    const statuses: number[] = [];
    for (let i = 0; i < events.length; i += 20) statuses.push(...(await Promise.all(events.slice(i, i + 20).map((e) => post(e)))));
    expect(statuses.every((s) => s === 204)).toBe(true);
    // Both processes ran ingest scripts: each names its Redis connection after its pid.
    const clients = String(await t.service.redis.call('CLIENT', 'LIST'));
    const gateways = [...clients.matchAll(/name=gateway-(\d+) .*?cmd=(\S+)/g)].map((m) => ({ pid: Number(m[1]), cmd: m[2] }));
    const pids = new Set(gateways.map((g) => g.pid));
    expect(pids).toEqual(new Set([process.pid, ...workers.pids()]));
    for (const pid of pids)
      expect(
        gateways.some((g) => g.pid === pid && /^eval/.test(g.cmd!)),
        `gateway ${pid} ingested`,
      ).toBe(true);
    await eventually(async () => {
      const r = await rows<{ n: string; d: string }>(
        t.ch,
        'SELECT count() AS n, uniqExact(event_id) AS d FROM events WHERE account_id = {a:String} AND startsWith(path, {p:String})',
        { a: t.account.id, p: '/w/' },
      );
      return Number(r[0]!.n) === events.length && Number(r[0]!.d) === events.length;
    }, 20_000);
  });

  it('gives a live feed on either process the joins ingested by the other', async () => {
    const feeds = await Promise.all(Array.from({ length: 6 }, () => LiveClient.connect(wsUrl(t.url, '/live', { key: t.account.adminKey }))));
    await Promise.all(feeds.map((c) => c.waitFor((m) => m.type === 'snapshot')));
    const visitors = Array.from({ length: 6 }, (_, i) => `wv-${i}`);
    for (const v of visitors) expect(await post(beacon(t.account.id, { visitorId: v, sessionId: `${v}-s`, path: '/live-w' }))).toBe(204);
    for (const c of feeds) {
      await eventually(() => visitors.every((v) => c.about(v).some((m) => m.type === 'join')));
      c.close();
    }
  });

  it('stops the worker with the service', async () => {
    const [pid] = t.service.gatewayWorkers!.pids();
    await t.stop();
    expect(() => process.kill(pid!, 0)).toThrow();
  });
});
