/**
 * Redis falls behind the gateway (here: held in a long script by another client). Requests whose
 * calls are already made wait and are answered once Redis has their rows; past
 * INGEST_QUEUE_MAX_MS of waiting, new requests get a quick 503 `backpressure` with Retry-After
 * instead of joining a queue that only grows. Nothing accepted is lost, nothing refused is written.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useTestService } from '../support/fixture.js';
import { BROWSER_UA, beacon, holdRedis } from '../support/services.js';
import { Ledger } from './support/ledger.js';

const t = useTestService({ env: { ROLES: 'gateway,store', INGEST_QUEUE_MAX_MS: '100' } });

describe('fault: Redis falls behind the gateway', () => {
  it('answers the requests already queued, refuses new ones quickly with 503 backpressure, and writes none of them', async () => {
    const ledger = new Ledger('ingest-queue', [t.account.id]);
    const stream = t.service.keys.eventStream(t.account.id);
    expect(await ledger.post(t.url, t.account.id, 1)).toBe(204);
    let held = true;
    const busy = holdRedis(t.service.redisUrl, 1500).then(() => (held = false));
    await new Promise((r) => setTimeout(r, 50));
    // Made while Redis is held, a tick apart: two calls in flight, the third waits for a slot.
    const queued: Promise<number>[] = [];
    for (let i = 0; i < 3; i++) {
      queued.push(ledger.post(t.url, t.account.id, 5));
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 250));

    const statuses = await Promise.all(Array.from({ length: 5 }, () => ledger.post(t.url, t.account.id, 2)));
    const res = await fetch(`${t.url}/v/event`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'user-agent': BROWSER_UA },
      body: JSON.stringify(beacon(t.account.id, { eventId: randomUUID() })),
    });
    // Answered while Redis is still held: refused at once, not after waiting their turn.
    expect(held).toBe(true);
    expect(statuses).toEqual([503, 503, 503, 503, 503]);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(((await res.json()) as { error: string }).error).toBe('backpressure');

    expect(await Promise.all(queued)).toEqual([204, 204, 204]);
    await busy;
    expect(await ledger.post(t.url, t.account.id, 3)).toBe(204);
    expect(ledger.accepted.size).toBe(1 + 15 + 3);
    expect(ledger.rejected.size).toBe(10);
    // Exactly the accepted events are in the stream: a refusal wrote nothing.
    const entries = (await t.service.redis.xrange(stream, '-', '+')) as [string, string[]][];
    const ids = entries.map(([, f]) => (JSON.parse(f[f.indexOf('r') + 1]!) as { event_id: string }).event_id);
    expect(ids.sort()).toEqual([...ledger.accepted].sort());
    expect(t.messages().filter((m) => m.includes('[v-event-error]') && m.includes('reason=backpressure')).length).toBe(6);
  });
});
