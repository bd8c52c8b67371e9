/**
 * Scale-out on one machine: two gateway and two worker processes (real child processes, one
 * role each) share one Redis and one store. Load spread over both gateways lands in ClickHouse
 * exactly once, both workers take part in flushing, and a live client on one gateway sees the
 * joins of visitors whose heartbeats reached the other.
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { beacon, eventually, postEvent, rows } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { startServiceProcess, type ServiceProcess } from '../support/processes.js';

const store = useTestService({ env: { ROLES: 'store' }, accounts: ['scale-a', 'scale-b'] });
const gateways: ServiceProcess[] = [];
const workers: ServiceProcess[] = [];

beforeAll(async () => {
  const env = { FLUSH_BATCH_SIZE: '100', FLUSH_INTERVAL_MS: '100' };
  const started = await Promise.all([
    startServiceProcess(store, { env: { ...env, ROLES: 'gateway' } }),
    startServiceProcess(store, { env: { ...env, ROLES: 'gateway' } }),
    startServiceProcess(store, { env: { ...env, ROLES: 'worker' } }),
    startServiceProcess(store, { env: { ...env, ROLES: 'worker' } }),
  ]);
  gateways.push(started[0], started[1]);
  workers.push(started[2], started[3]);
  store.fx.track(...started);
}, 90_000);

/** Events each worker inserted into `events`, from its `[flush]` lines. */
function flushedEvents(p: ServiceProcess): number {
  return p
    .logs()
    .filter((l) => String(l.msg).startsWith('[flush] rows='))
    .reduce((n, l) => n + Number((l.tables as Record<string, number> | undefined)?.events ?? 0), 0);
}

describe('scale-out: 2 gateways + 2 workers', () => {
  it('stores every event sent through either gateway exactly once, flushed by both workers', async () => {
    const sent: string[] = [];
    for (let wave = 0; wave < 5; wave++) {
      const requests = Array.from({ length: 40 }, async (_, i) => {
        const gw = gateways[i % 2]!.url!;
        const account = i % 4 < 2 ? 'scale-a' : 'scale-b';
        const events = Array.from({ length: i % 5 === 0 ? 1 : 20 }, () => beacon(account, { eventId: randomUUID() }));
        const res = await postEvent(gw, events.length === 1 ? events[0] : { events });
        expect(res.status).toBe(204);
        sent.push(...events.map((e) => String(e.eventId)));
      });
      await Promise.all(requests);
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(sent.length).toBe(5 * (8 * 1 + 32 * 20));

    await eventually(
      async () => {
        const n = await rows<{ n: string }>(store.ch, "SELECT count() AS n FROM events WHERE account_id IN ('scale-a', 'scale-b')");
        return Number(n[0]!.n) >= sent.length;
      },
      40_000,
      200,
    );
    const got = await rows<{ id: string; n: string }>(
      store.ch,
      "SELECT toString(event_id) AS id, count() AS n FROM events WHERE account_id IN ('scale-a', 'scale-b') GROUP BY id",
    );
    expect(got.filter((r) => Number(r.n) !== 1)).toEqual([]);
    expect(got.map((r) => r.id).sort()).toEqual([...sent].sort());

    // Both gateways accepted, both workers flushed, and together exactly what was sent.
    for (const g of gateways) expect(g.messages().filter((m) => m.startsWith('[visitor-event]')).length).toBeGreaterThan(0);
    // A batch's `[flush]` line follows its insert (after the ack): rows can be visible a moment first.
    const perWorker = await eventually(() => {
      const p = workers.map(flushedEvents);
      return p[0]! + p[1]! >= sent.length ? p : undefined;
    }, 10_000).catch(() => workers.map(flushedEvents));
    expect(perWorker.every((n) => n > 0)).toBe(true);
    expect(perWorker[0]! + perWorker[1]!).toBe(sent.length);
  });

  it('shows a live client on one gateway the joins of heartbeats that reached the other', async () => {
    const key = store.accounts.find((a) => a.id === 'scale-a')!.adminKey;
    const port = new URL(gateways[0]!.url!).port;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/live?account=scale-a&key=${encodeURIComponent(key)}`);
    const messages: string[] = [];
    ws.on('message', (d) => messages.push(d.toString()));
    await eventually(() => messages.some((m) => m.startsWith('{"type":"snapshot"')), 10_000);
    const visitor = `v-cross-${randomUUID().slice(0, 8)}`;
    expect((await postEvent(gateways[1]!.url!, beacon('scale-a', { type: 'heartbeat', visitorId: visitor }))).status).toBe(204);
    await eventually(() => messages.some((m) => m.startsWith('{"type":"join"') && m.includes(`"visitorId":"${visitor}"`)), 10_000);
    ws.close();
  });
});
