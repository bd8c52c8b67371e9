/**
 * ClickHouse goes away for a while, twice: first its port refuses connections (events wait in
 * the stream, the gateway keeps accepting), then inserts are applied but their answers are lost
 * (the worker retries; it must not insert the same rows again). When it is back, every accepted
 * event is there exactly once.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/services.js';
import { startServiceProcess, type ServiceProcess } from '../support/processes.js';
import { useTestService } from '../support/fixture.js';
import { startChProxy, type ChProxy } from './support/ch-proxy.js';
import { Ledger, writeReport } from './support/ledger.js';

const t = useTestService({ env: { ROLES: 'gateway,store' } });
const { fx } = t;
let proxy: ChProxy;
let worker: ServiceProcess;

beforeAll(async () => {
  proxy = fx.track(await startChProxy(t.service.storeUrl!));
  worker = fx.track(
    await startServiceProcess(t, {
      env: { ROLES: 'worker', CLICKHOUSE_URL: proxy.url, FLUSH_BATCH_SIZE: '200', FLUSH_INTERVAL_MS: '100' },
    }),
  );
});

describe('fault: ClickHouse unavailable for a while', () => {
  it('keeps accepting, holds events in the stream, and lands each exactly once when it returns', async () => {
    const ledger = new Ledger('clickhouse-outage', [t.account.id]);
    for (let i = 0; i < 10; i++) await ledger.post(t.url, t.account.id, 10);
    await eventually(() => ledger.allStored(t.ch), 20_000, 100);

    // 1. The port refuses: nothing can be written, the gateway still answers 204.
    await proxy.setMode('refuse');
    for (let i = 0; i < 20; i++) await ledger.post(t.url, t.account.id, 10);
    await new Promise((r) => setTimeout(r, 1500));
    const duringRefuse = await ledger.stored(t.ch);
    expect(duringRefuse.size).toBe(100);
    expect(await t.service.redis.xlen(t.service.keys.eventStream(t.account.id))).toBeGreaterThanOrEqual(200);

    // 2. Inserts are applied but every answer is lost: the worker cannot tell, and retries.
    await proxy.setMode('cut-inserts');
    for (let i = 0; i < 10; i++) await ledger.post(t.url, t.account.id, 10);
    await eventually(() => proxy.faulted >= 2, 30_000, 100);

    // 3. Back to normal.
    await proxy.setMode('pass');
    for (let i = 0; i < 10; i++) await ledger.post(t.url, t.account.id, 10);
    await eventually(() => ledger.allStored(t.ch), 40_000, 200);
    await eventually(async () => (await t.service.redis.xlen(t.service.keys.eventStream(t.account.id))) === 0, 20_000, 200);
    const result = await ledger.verify(t.ch);
    const messages = worker!.messages();
    writeReport(ledger, result, {
      insertsAppliedButAnswerLost: proxy.faulted,
      failedInsertLogLines: messages.filter((m) => m.includes('[flush] insert failed')).length,
    });

    expect(result.accepted).toBe(500);
    expect(result.missing).toEqual([]);
    expect(result.duplicated).toEqual([]);
    expect(result.foreign).toEqual([]);
    expect(result.stored).toBe(500);
    expect(messages.some((m) => m.includes('[flush] insert failed'))).toBe(true);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
  });
});
