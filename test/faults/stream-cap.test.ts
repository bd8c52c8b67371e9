/**
 * The stream fills past its cap while no worker runs (ClickHouse falling behind): the gateway
 * answers 503 `backpressure` with Retry-After instead of growing Redis without bound, `/readyz`
 * raises the alarm, a batch that does not fit is refused whole, and nothing accepted is dropped:
 * once a worker runs, every accepted event lands and the alarm clears.
 */
import { describe, expect, it } from 'vitest';
import { BROWSER_UA, beacon, eventually } from '../support/services.js';
import { startServiceProcess } from '../support/processes.js';
import { useTestService } from '../support/fixture.js';
import { Ledger, writeReport } from './support/ledger.js';

const CAP = 100;
const t = useTestService({ env: { ROLES: 'gateway,store', STREAM_CAP: String(CAP) } });

describe('fault: the stream fills past its cap', () => {
  it('answers 503 with an alarm, drops nothing it accepted, and recovers when a worker drains', async () => {
    const ledger = new Ledger('stream-cap', [t.account.id]);
    for (let i = 0; i < 9; i++) expect(await ledger.post(t.url, t.account.id, 10)).toBe(204);
    // 90 in the stream: a batch of 20 would pass the cap and is refused whole; 10 still fit.
    expect(await ledger.post(t.url, t.account.id, 20)).toBe(503);
    expect(await ledger.post(t.url, t.account.id, 10)).toBe(204);

    const res = await fetch(`${t.url}/v/event`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': BROWSER_UA },
      body: JSON.stringify(beacon(t.account.id, { eventId: crypto.randomUUID() })),
    });
    ledger.record([], res.status);
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await res.json()) as { error: string }).error).toBe('backpressure');
    for (let i = 0; i < 20; i++) expect(await ledger.post(t.url, t.account.id, 1)).toBe(503);

    const ready = await fetch(`${t.url}/readyz`);
    const body = (await ready.json()) as { checks: Record<string, string> };
    expect(ready.status).toBe(503);
    expect(body.checks.stream).toMatch(/^backpressure: stream near its cap of 100 /);
    expect(await t.service.redis.xlen(t.service.keys.eventStream(t.account.id))).toBe(CAP);
    expect(t.messages().filter((m) => m.includes('[v-event-error]') && m.includes('reason=backpressure')).length).toBeGreaterThanOrEqual(21);

    t.fx.track(await startServiceProcess(t, { env: { ROLES: 'worker', FLUSH_INTERVAL_MS: '100' } }));
    await eventually(() => ledger.allStored(t.ch), 30_000, 200);
    await eventually(async () => (await fetch(`${t.url}/readyz`)).status === 200, 15_000, 200);
    expect(await ledger.post(t.url, t.account.id, 20)).toBe(204);
    await eventually(() => ledger.allStored(t.ch), 30_000, 200);

    const result = await ledger.verify(t.ch);
    writeReport(ledger, result, { streamCap: CAP });
    expect(result.accepted).toBe(120);
    expect(result.rejected).toBe(40);
    expect(result.missing).toEqual([]);
    expect(result.duplicated).toEqual([]);
    expect(result.foreign).toEqual([]);
    // A refusal at the cap is certain: none of the refused events was written.
    expect(result.storedUnacknowledged).toBe(0);
    expect(result.stored).toBe(120);
  });
});
