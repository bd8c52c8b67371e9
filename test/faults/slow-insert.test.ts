/**
 * ClickHouse answers an insert only after longer than RECLAIM_IDLE_MS while a second worker is
 * running. The slow worker is alive, so its batch must not be reclaimed and inserted a second
 * time by the other: every accepted event exactly once.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/services.js';
import { startServiceProcess } from '../support/processes.js';
import { useTestService } from '../support/fixture.js';
import { startChProxy, type ChProxy } from './support/ch-proxy.js';
import { Ledger, writeReport } from './support/ledger.js';

const RECLAIM_IDLE_MS = 1000;
const t = useTestService({ env: { ROLES: 'gateway,store' } });
const { fx } = t;
let proxy: ChProxy;

beforeAll(async () => {
  proxy = fx.track(await startChProxy(t.service.storeUrl!));
});

describe('fault: an insert slower than the reclaim idle time', () => {
  it('is not stolen and inserted again by another worker while the slow one is alive', async () => {
    const ledger = new Ledger('slow-insert', [t.account.id]);
    const env = { ROLES: 'worker', FLUSH_BATCH_SIZE: '200', FLUSH_INTERVAL_MS: '100', RECLAIM_IDLE_MS: String(RECLAIM_IDLE_MS) };
    // Held until released below (60 s is only a backstop), so the race window cannot close
    // before the fast worker is up, however slow its start is.
    await proxy.setMode('delay-inserts', 60_000);
    fx.track(await startServiceProcess(t, { env: { ...env, CLICKHOUSE_URL: proxy.url } }));
    for (let i = 0; i < 20; i++) await ledger.post(t.url, t.account.id, 10);
    await eventually(() => proxy.delayed >= 1, 20_000);

    // A fast worker arrives while the slow one's insert is in flight, and runs for 5 × the
    // reclaim idle time with it still in flight: the race this test is about really happens.
    const fast = fx.track(await startServiceProcess(t, { env }));
    expect(proxy.delayedInFlight).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 20; i++) await ledger.post(t.url, t.account.id, 10);
    await new Promise((r) => setTimeout(r, 5 * RECLAIM_IDLE_MS));
    expect(proxy.delayedInFlight).toBeGreaterThanOrEqual(1);
    await proxy.setMode('pass');

    await ledger.settle(t);
    const result = await ledger.verify(t.ch);
    writeReport(ledger, result, { insertsDelayed: proxy.delayed, heldForMs: 5 * RECLAIM_IDLE_MS, reclaimIdleMs: RECLAIM_IDLE_MS });
    expect(result.accepted).toBe(400);
    expect(result.missing).toEqual([]);
    expect(result.duplicated).toEqual([]);
    expect(result.foreign).toEqual([]);
    expect(fast.messages().some((m) => m.includes('[flush] reclaimed pending entries'))).toBe(false);
  });
});
