import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { beacon, BROWSER_UA, eventually, postEvent, rows } from '../support/services.js';
import { useTestService } from '../support/fixture.js';

const t = useTestService({ withRedis: true });

const countOf = async (where: string, params: Record<string, unknown>) =>
  Number((await rows<{ n: string }>(t.ch, `SELECT count() AS n FROM events WHERE ${where}`, params))[0]!.n);

describe('ingest pipeline: beacon → Redis stream → ClickHouse', () => {
  it('answers 204 and the event becomes queryable with its fields and enrichment', async () => {
    const e = beacon(t.account.id, { type: 'scroll', depth: 50, path: '/listings/9-elm', title: 'Nine Elm', referrer: 'https://www.bing.com/' });
    const res = await postEvent(t.url, e, { origin: t.account.origin });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(t.account.origin);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    const [row] = await eventually(async () => {
      const r = await rows(t.ch, 'SELECT * FROM events WHERE account_id = {a:String} AND session_id = {s:String}', { a: t.account.id, s: e.sessionId });
      return r.length ? r : undefined;
    });
    expect(row).toMatchObject({
      account_id: t.account.id,
      type: 'scroll',
      visitor_id: e.visitorId,
      path: '/listings/9-elm',
      title: 'Nine Elm',
      depth: 50,
      ua_family: 'Chrome',
      device: 'desktop',
      referrer_host: 'www.bing.com',
      channel: 'search',
    });
    // The raw IP is never stored: only a salted hash.
    expect(String(row!.ip_hash)).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.stringify(row)).not.toContain('127.0.0.1');
    expect(t.messages()).toContain(`[visitor-event] type=scroll depth=50 account=${t.account.id} path=/listings/9-elm`);
  });

  it('lands a batch of 20 whole, and accepts text/plain (sendBeacon)', async () => {
    const sessionId = `s-${randomUUID()}`;
    const events = Array.from({ length: 20 }, (_, i) =>
      beacon(t.account.id, { sessionId, type: i % 2 ? 'click' : 'pageview', label: i % 2 ? `l${i}` : undefined, path: `/p/${i}` }),
    );
    const res = await postEvent(t.url, JSON.stringify({ events }), { 'content-type': 'text/plain;charset=UTF-8' });
    expect(res.status).toBe(204);
    await eventually(async () => (await countOf('account_id = {a:String} AND session_id = {s:String}', { a: t.account.id, s: sessionId })) === 20);
    const paths = await rows<{ path: string }>(t.ch, 'SELECT path FROM events WHERE session_id = {s:String} ORDER BY path', { s: sessionId });
    expect(paths.map((p) => p.path)).toEqual(events.map((e) => e.path as string).sort());
  });

  it('records a pixel view and always answers with a GIF', async () => {
    const sessionId = `s-${randomUUID()}`;
    const ok = await fetch(`${t.url}/p.gif?account=${t.account.id}&type=pageview&session=${sessionId}&visitor=v-px&path=/px`, {
      headers: { 'user-agent': BROWSER_UA },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/gif');
    expect(
      Buffer.from(await ok.arrayBuffer())
        .subarray(0, 6)
        .toString(),
    ).toBe('GIF89a');
    const bad = await fetch(`${t.url}/p.gif?account=${t.account.id}&type=nope`, { headers: { 'user-agent': BROWSER_UA } });
    expect(bad.status).toBe(200);
    expect(bad.headers.get('content-type')).toBe('image/gif');
    await eventually(async () => (await countOf('session_id = {s:String}', { s: sessionId })) === 1);
    expect(t.messages().some((m) => m.startsWith('[v-event-error] reason=invalid'))).toBe(true);
  });

  it('accepts a retried event id once', async () => {
    const e = beacon(t.account.id, { eventId: randomUUID() });
    expect((await postEvent(t.url, e)).status).toBe(204);
    expect((await postEvent(t.url, e)).status).toBe(204);
    await eventually(async () => (await countOf('session_id = {s:String}', { s: e.sessionId })) === 1);
    // A later event proves the flusher has moved past the duplicate.
    const later = beacon(t.account.id, { sessionId: e.sessionId });
    await postEvent(t.url, later);
    await eventually(async () => (await countOf('session_id = {s:String}', { s: e.sessionId })) === 2);
  });

  it('keeps bots out of analytics and counts them apart', async () => {
    const e = beacon(t.account.id);
    const res = await postEvent(t.url, e, { 'user-agent': 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' });
    expect(res.status).toBe(204);
    const marker = beacon(t.account.id, { sessionId: e.sessionId, visitorId: 'human' });
    await postEvent(t.url, marker);
    await eventually(async () => (await countOf('session_id = {s:String}', { s: e.sessionId })) === 1);
    const [row] = await rows<{ visitor_id: string }>(t.ch, 'SELECT visitor_id FROM events WHERE session_id = {s:String}', { s: e.sessionId });
    expect(row!.visitor_id).toBe('human');
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`visitor_bot_requests_total\\{account="${t.account.id}"\\} [1-9]`));
  });

  it('reports health, readiness and metrics', async () => {
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { redis: 'ok', clickhouse: 'ok', stream: 'ok' } });
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toContain('# TYPE visitor_events_accepted_total counter');
    expect(metrics).toMatch(/visitor_flush_rows_total\{table="events"\} \d+/);
  });
});
