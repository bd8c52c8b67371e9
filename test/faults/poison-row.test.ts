/**
 * Rows in the stream that ClickHouse refuses as data (a lone-surrogate escape, a malformed UUID,
 * an unparsable time), written straight into the stream as a buggy or older writer might. The
 * flusher must not retry that batch forever behind them: it inserts the good rows, moves the
 * refused ones to the account's dead-letter stream (kept, not dropped) and carries on.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eventually, rows } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { storedEvent } from '../../src/domain/stored-event.js';
import { Ledger, writeReport } from './support/ledger.js';

const t = useTestService({ env: { FLUSH_BATCH_SIZE: '1000', FLUSH_INTERVAL_MS: '300' } });

function rowText(account: string, id: string, patch: (json: string) => string): string {
  const row = storedEvent({ account_id: account, event_id: id, session_id: 's-poison', visitor_id: 'v-poison', path: '/poison', url: 'URL' });
  return patch(JSON.stringify(row));
}

describe('fault: rows ClickHouse refuses', () => {
  it('dead-letters them and keeps flushing everything else', async () => {
    const account = t.account.id;
    const stream = t.service.keys.eventStream(account);
    const ledger = new Ledger('poison-rows', [account]);
    const poison = [
      rowText(account, randomUUID(), (j) => j.replace('"URL"', '"\\ud800"')),
      rowText(account, 'not-a-uuid', (j) => j),
      rowText(account, randomUUID(), (j) => j.replace(/"ts":"[^"]+"/, '"ts":"the day before yesterday"')),
    ];
    for (let i = 0; i < 5; i++) await ledger.post(t.url, account, 10);
    for (const p of poison) await t.service.redis.xadd(stream, '*', 't', 'events', 'r', p);
    for (let i = 0; i < 5; i++) await ledger.post(t.url, account, 10);
    // A beacon carrying a lone surrogate is valid JSON and valid to the schema: it is accepted and stored.
    const lone = randomUUID();
    const res = await fetch(`${t.url}/v/event`, {
      method: 'POST',
      headers: {
        'content-type': 'text/plain',
        'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
      },
      body: `{"account":"${account}","type":"pageview","sessionId":"s-lone","visitorId":"v-lone","path":"/lone","title":"a\\ud800b","eventId":"${lone}"}`,
    });
    ledger.record([lone], res.status);
    expect(res.status).toBe(204);

    await eventually(() => ledger.allStored(t.ch), 30_000, 200);
    await eventually(async () => (await t.service.redis.xlen(stream)) === 0, 20_000, 200);
    const result = await ledger.verify(t.ch);
    const dead = (await t.service.redis.xrange(t.service.keys.deadLetters(account), '-', '+')) as [string, string[]][];
    writeReport(ledger, result, { deadLettered: dead.length, injectedPoisonRows: poison.length });

    expect(result.accepted).toBe(101);
    expect(result.missing).toEqual([]);
    expect(result.duplicated).toEqual([]);
    expect(result.foreign).toEqual([]);
    expect(dead.map(([, f]) => f[f.indexOf('r') + 1]).sort()).toEqual([...poison].sort());
    for (const [, f] of dead) expect(Number(f[f.indexOf('code') + 1])).toBeGreaterThan(0);
    const stored = await rows<{ title: string }>(t.ch, 'SELECT title FROM events WHERE event_id = {id:UUID}', { id: lone });
    expect(stored).toEqual([{ title: 'a\ufffdb' }]);
    expect(t.messages().filter((m) => m.startsWith('[flush-dead-letter]')).length).toBe(3);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });
});
