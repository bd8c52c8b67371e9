/**
 * A burst from one client address: past its token bucket it gets 429 with Retry-After (and the
 * pixel still answers with its image), other clients are not affected, nothing refused is
 * stored, everything accepted is, and the client is served again after waiting.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BROWSER_UA } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { Ledger, writeReport } from './support/ledger.js';

const RATE = 20;
// Behind one trusted proxy (TRUST_PROXY=true is 1 hop) the client address is the X-Forwarded-For entry it appended.
const t = useTestService({ env: { RATE_LIMIT_PER_IP: String(RATE), TRUST_PROXY: 'true' } });

describe('fault: a burst from one IP', () => {
  it('limits that client with 429 + Retry-After and nobody else', async () => {
    const ledger = new Ledger('ip-burst', [t.account.id]);
    const attacker = { 'x-forwarded-for': '203.0.113.7' };
    const other = { 'x-forwarded-for': '198.51.100.20' };
    const retryAfter: (string | null)[] = [];
    const burst = Array.from({ length: 200 }, async () => {
      const id = randomUUID();
      const res = await fetch(`${t.url}/v/event`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', 'user-agent': BROWSER_UA, ...attacker },
        body: JSON.stringify({ account: t.account.id, type: 'click', sessionId: 's-burst', visitorId: 'v-burst', path: '/', label: 'x', eventId: id }),
      });
      if (res.status === 429) retryAfter.push(res.headers.get('retry-after'));
      await res.arrayBuffer();
      ledger.record([id], res.status);
    });
    const others = Array.from({ length: 10 }, () => ledger.post(t.url, t.account.id, 1, other));
    const otherStatuses = await Promise.all(others);
    await Promise.all(burst);

    const ok = ledger.statuses['204'] ?? 0;
    const limited = ledger.statuses['429'] ?? 0;
    expect(otherStatuses).toEqual(Array(10).fill(204));
    // The bucket holds 2 × RATE; a few more refill while the burst is in flight.
    expect(ok - 10).toBeGreaterThanOrEqual(2 * RATE);
    expect(ok - 10).toBeLessThan(2 * RATE + 25);
    expect(limited).toBe(200 - (ok - 10));
    expect(retryAfter.length).toBe(limited);
    expect(retryAfter.every((v) => Number(v) >= 1)).toBe(true);

    // The pixel always answers with its image, limited or not; whether it was limited shows in
    // the log only (the bucket refills at RATE/s, so either is possible here).
    const pixelId = randomUUID();
    const pixel = await fetch(`${t.url}/p.gif?account=${t.account.id}&type=pageview&s=s-burst&v=v-burst&p=/&eventId=${pixelId}`, {
      headers: { 'user-agent': BROWSER_UA, ...attacker },
    });
    expect(pixel.status).toBe(200);
    expect(pixel.headers.get('content-type')).toBe('image/gif');
    const pixelLimited = t.messages().some((m) => m.includes('reason=rate-limited') && m.includes('path=/p.gif'));
    ledger.record([pixelId], pixelLimited ? 429 : 204);
    expect(t.messages().some((m) => m.includes('[v-event-error]') && m.includes('reason=rate-limited'))).toBe(true);

    // After Retry-After the client is served again.
    await new Promise((r) => setTimeout(r, 1000 * Math.max(...retryAfter.map(Number))));
    expect(await ledger.post(t.url, t.account.id, 1, attacker)).toBe(204);

    await ledger.settle(t);
    const result = await ledger.verify(t.ch);
    writeReport(ledger, result, { ratePerIp: RATE, burst: 200, limited });
    expect(result.missing).toEqual([]);
    expect(result.duplicated).toEqual([]);
    expect(result.foreign).toEqual([]);
    expect(result.storedUnacknowledged).toBe(0);
    expect(result.stored).toBe(result.accepted);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });
});
