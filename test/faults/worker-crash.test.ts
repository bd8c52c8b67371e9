/**
 * kill -9 of a flush worker in the middle of a batch: its insert has reached ClickHouse but it
 * dies before acknowledging. Another worker process reclaims the batch, finds the rows already
 * stored and acknowledges without inserting them again: every accepted event exactly once.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { FLUSH_GROUP } from '../../src/adapters/redis/keys.js';
import { eventually } from '../support/services.js';
import { startServiceProcess } from '../support/processes.js';
import { useTestService } from '../support/fixture.js';
import { startChProxy, type ChProxy } from './support/ch-proxy.js';
import { Ledger, writeReport } from './support/ledger.js';

const t = useTestService({ env: { ROLES: 'gateway,store' } });
const { fx } = t;
let proxy: ChProxy;

beforeAll(async () => {
  proxy = fx.track(await startChProxy(t.service.storeUrl!));
});

const workerEnv = { ROLES: 'worker', FLUSH_BATCH_SIZE: '400', FLUSH_INTERVAL_MS: '150', RECLAIM_IDLE_MS: '1000' };

async function pending(): Promise<number> {
  const [count] = (await t.service.redis.xpending(t.service.keys.eventStream(t.account.id), FLUSH_GROUP)) as [number];
  return Number(count);
}

describe('fault: a worker is killed mid-batch', () => {
  it('loses nothing and duplicates nothing once another worker reclaims', async () => {
    const ledger = new Ledger('worker-kill-9', [t.account.id]);
    const a = fx.track(await startServiceProcess(t, { env: { ...workerEnv, CLICKHOUSE_URL: proxy.url } }));
    await proxy.setMode('hold-inserts');

    for (let i = 0; i < 30; i++) await ledger.post(t.url, t.account.id, 10);
    expect(ledger.accepted.size).toBe(300);

    // Worker A has read a batch and ClickHouse has applied its insert; the answer is withheld.
    await eventually(() => proxy.faulted >= 1, 20_000);
    const heldRows = await ledger.stored(t.ch);
    expect(heldRows.size).toBeGreaterThan(0);
    expect(await pending()).toBeGreaterThan(0);

    // The gateway keeps accepting while the worker hangs.
    for (let i = 0; i < 20; i++) await ledger.post(t.url, t.account.id, 10);

    expect(await a.crash()).toBe('SIGKILL');
    await proxy.setMode('pass');
    const pendingAfterCrash = await pending();
    expect(pendingAfterCrash).toBeGreaterThan(0);

    const b = fx.track(await startServiceProcess(t, { env: workerEnv }));
    for (let i = 0; i < 10; i++) await ledger.post(t.url, t.account.id, 10);

    await eventually(() => ledger.allStored(t.ch), 40_000, 200);
    await eventually(async () => (await pending()) === 0, 20_000, 200);
    const result = await ledger.verify(t.ch);
    writeReport(ledger, result, { rowsInClickHouseWhenKilled: heldRows.size, pendingAfterCrash });

    expect(result.accepted).toBe(600);
    expect(result.missing).toEqual([]);
    expect(result.duplicated).toEqual([]);
    expect(result.foreign).toEqual([]);
    expect(result.stored).toBe(600);
    const bMessages = b.messages();
    expect(bMessages.some((m) => m.includes('[flush] reclaimed pending entries'))).toBe(true);
    expect(bMessages.some((m) => m.includes('[flush] skipped re-delivered rows already in ClickHouse'))).toBe(true);

    // The service still answers.
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
  });
});
