/**
 * Redis stops (a clean shutdown of a redis-server with AOF) while events keep arriving: the
 * gateway answers 503 instead of accepting what it cannot store, `/readyz` says so, and once
 * Redis is back on the same port and data dir every event it did accept lands in ClickHouse.
 */
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { restartableRedis, type RestartableRedis } from './support/restartable-redis.js';
import { Ledger, writeReport } from './support/ledger.js';

let redis: RestartableRedis;

const t = useTestService(async (fx) => {
  redis = await restartableRedis(fx);
  return { redisUrl: redis.url };
});

/** Four clients posting single events back to back until told to stop. */
function sendLoop(ledger: Ledger, url: string, account: string) {
  let running = true;
  const loops = Array.from({ length: 4 }, async () => {
    while (running) {
      await ledger.post(url, account, 1);
      await new Promise((r) => setTimeout(r, 5));
    }
  });
  return async () => {
    running = false;
    await Promise.all(loops);
  };
}

describe('fault: Redis restarts', () => {
  it('answers 503 while Redis is down, and every accepted event lands once it is back', async () => {
    const ledger = new Ledger('redis-restart', [t.account.id]);
    for (let i = 0; i < 10; i++) await ledger.post(t.url, t.account.id, 10);

    const stopSending = sendLoop(ledger, t.url, t.account.id);
    await new Promise((r) => setTimeout(r, 300));
    await redis.stop();
    await eventually(() => (ledger.statuses['503'] ?? 0) >= 20, 15_000);
    const ready = await fetch(`${t.url}/readyz`, { signal: AbortSignal.timeout(10_000) });
    const readyBody = (await ready.json()) as { checks: Record<string, string> };
    expect(ready.status).toBe(503);
    expect(readyBody.checks.redis).not.toBe('ok');

    await redis.start();
    const acceptedBefore = ledger.accepted.size;
    await eventually(() => ledger.accepted.size >= acceptedBefore + 50, 30_000);
    await stopSending();
    for (let i = 0; i < 5; i++) await ledger.post(t.url, t.account.id, 10);

    await ledger.settle(t);
    const result = await ledger.verify(t.ch);
    writeReport(ledger, result);

    expect(ledger.statuses['503']).toBeGreaterThanOrEqual(20);
    // Nothing but accepted or "unavailable": no 500s, no crash.
    expect(Object.keys(ledger.statuses).filter((s) => s !== '204' && s !== '503')).toEqual([]);
    expect(result.missing).toEqual([]);
    expect(result.duplicated).toEqual([]);
    expect(result.foreign).toEqual([]);
    expect(result.accepted).toBeGreaterThan(150);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    await eventually(async () => (await fetch(`${t.url}/readyz`, { signal: AbortSignal.timeout(5000) })).status === 200, 15_000);
    const lines = t.messages();
    expect(lines.some((m) => m.includes('[v-event-error]') && m.includes('reason=store-unavailable'))).toBe(true);
  });
});
