import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { beacon, eventually, postEvent } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { LiveClient, refusedStatus, wsUrl, type Msg } from './presence.live-client.js';

const A = 'ps-alpha';
const B = 'ps-beta';
const SLOW = 'ps-slow';
const t = useTestService({
  withRedis: true,
  accounts: [A, B, SLOW],
  accountFields: { [SLOW]: { presence: { heartbeatMs: 15_000, ttlMs: 45_000, graceMs: 0 } } },
  // A small buffer so that a client that never reads is dropped after little traffic.
  env: { LIVE_MAX_BACKPRESSURE: '16384' },
});

const key = (id: string) => t.accounts.find((a) => a.id === id)!.adminKey;

async function send(events: Record<string, unknown>[], url = t.url): Promise<void> {
  const res = await postEvent(url, { events });
  expect(res.status).toBe(204);
}

describe('who may watch', () => {
  it('refuses /live without a key, with an unknown key, or with a key of another account', async () => {
    await send([beacon(A, { visitorId: 'secret-visitor', sessionId: 's', path: '/private' })]);
    expect(await refusedStatus(wsUrl(t.url, '/live'))).toBe(401);
    expect(await refusedStatus(wsUrl(t.url, '/live', { account: A }))).toBe(401);
    expect(await refusedStatus(wsUrl(t.url, '/live', { account: A, key: 'not-a-key' }))).toBe(401);
    expect(await refusedStatus(wsUrl(t.url, '/live'), { authorization: 'Bearer not-a-key' })).toBe(401);
    expect(await refusedStatus(wsUrl(t.url, '/live', { account: A, key: key(B) }))).toBe(403);
    expect(await refusedStatus(wsUrl(t.url, '/live', { account: A }), { authorization: `Bearer ${key(B)}` })).toBe(403);
    // The public ingest id is not an admin key.
    expect(await refusedStatus(wsUrl(t.url, '/live', { key: A }))).toBe(401);
    expect(await refusedStatus(wsUrl(t.url, '/live', { key: key(A), page: 'no-slash' }))).toBe(400);

    // B's own key sees B only: nothing of A's visitor.
    const b = await LiveClient.connect(wsUrl(t.url, '/live', { key: key(B) }));
    const snap = await b.waitFor((m) => m.type === 'snapshot');
    expect(snap).toMatchObject({ account: B, online: 0, visitors: [] });
    await send([beacon(A, { visitorId: 'secret-2', sessionId: 's2', path: '/private' })]);
    await new Promise((r) => setTimeout(r, 300));
    expect(JSON.stringify(b.messages)).not.toContain('secret');
    b.close();
  });

  it('refuses /live/public for an unknown account or a foreign origin', async () => {
    expect(await refusedStatus(wsUrl(t.url, '/live/public', { account: 'no-such-account', page: '/' }))).toBe(403);
    expect(await refusedStatus(wsUrl(t.url, '/live/public'))).toBe(403);
    expect(await refusedStatus(wsUrl(t.url, '/live/public', { account: A }), { origin: 'https://evil.example' })).toBe(403);
    const c = await LiveClient.connect(wsUrl(t.url, '/live/public', { account: A, page: '/nobody-here' }), { origin: t.accounts[0]!.origin });
    expect(await c.waitFor((m) => m.type === 'count')).toEqual({ type: 'count', account: A, page: '/nobody-here', online: 0 });
    c.close();
  });

  it('refuses /api/online and /api/visitors/live without the account key', async () => {
    for (const path of ['/api/online', '/api/visitors/live']) {
      expect((await fetch(`${t.url}${path}`)).status).toBe(401);
      expect((await fetch(`${t.url}${path}`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
      const foreign = await fetch(`${t.url}${path}?account=${A}`, { headers: { authorization: `Bearer ${key(B)}` } });
      expect(foreign.status).toBe(403);
      expect(await foreign.json()).toMatchObject({ error: 'forbidden', code: 'GW_ERR_FORBIDDEN' });
      const own = await fetch(`${t.url}${path}?limit=0`, { headers: { authorization: `Bearer ${key(A)}` } });
      expect(own.status).toBe(400);
    }
    const own = await fetch(`${t.url}/api/online?account=${A}`, { headers: { authorization: `Bearer ${key(A)}` } });
    expect(own.status).toBe(200);
    expect(await own.json()).toMatchObject({ account: A, online: 2 });
  });

  it('never logs an admin key, even when it came in the query string', async () => {
    const c = await LiveClient.connect(wsUrl(t.url, '/live', { key: key(A) }));
    await c.waitFor((m) => m.type === 'snapshot');
    c.close();
    await refusedStatus(wsUrl(t.url, '/live', { key: key(B), account: A }));
    await eventually(() => t.messages().some((m) => m.startsWith('[live-close]')));
    const text = JSON.stringify(t.logs());
    for (const a of t.accounts) expect(text).not.toContain(a.adminKey);
    expect(t.messages()).toContain('[live-reject] reason=forbidden status=403 path=/live');
  });
});

describe('bad input never breaks the feed for others', () => {
  it('ignores garbage from a client; a client over the size limit alone is closed', async () => {
    const watcher = await LiveClient.connect(wsUrl(t.url, '/live', { key: key(A) }));
    const noisy = await LiveClient.connect(wsUrl(t.url, '/live', { key: key(A) }));
    const huge = await LiveClient.connect(wsUrl(t.url, '/live', { key: key(A) }));
    await Promise.all([watcher, noisy, huge].map((c) => c.waitFor((m) => m.type === 'snapshot')));
    noisy.send('not json at all');
    noisy.send(Buffer.from([0, 1, 2, 3, 255]));
    noisy.send('{"type":"subscribe","page":"/x"}');
    noisy.send('{"type":"ping"}');
    await noisy.waitFor((m) => m.type === 'pong');
    huge.send('x'.repeat(64 * 1024));
    await eventually(() => huge.closedWith !== undefined);

    await send([beacon(A, { visitorId: 'after-garbage', sessionId: 's', path: '/still-works' })]);
    for (const c of [watcher, noisy]) await c.waitFor((m) => m.type === 'join' && m.visitor.visitorId === 'after-garbage');
    expect(huge.about('after-garbage')).toEqual([]);
    expect(t.messages().filter((m) => m.startsWith('[live-garbage]'))).toHaveLength(1);
    watcher.close();
    noisy.close();
  });

  it('drops a client that never reads, while the others get every diff', async () => {
    const u = new URL(t.url);
    const sock = net.connect(Number(u.port), u.hostname);
    await new Promise((r) => sock.once('connect', r));
    sock.write(
      `GET /live?key=${encodeURIComponent(key(SLOW))} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const head = await new Promise<string>((r) => sock.once('data', (d) => r(String(d))));
    expect(head).toMatch(/^HTTP\/1.1 101/);
    sock.pause();

    const good = await LiveClient.connect(wsUrl(t.url, '/live', { key: key(SLOW) }));
    await good.waitFor((m) => m.type === 'snapshot');
    const closesBefore = t.messages().filter((m) => m.startsWith('[live-close]')).length;
    // Each diff carries the long page path, so the kernel buffers and then uWS's fill quickly.
    const path = `/${'p'.repeat(2000)}`;
    let visitors = 0;
    while (t.messages().filter((m) => m.startsWith('[live-close]')).length === closesBefore) {
      expect(visitors).toBeLessThan(20_000);
      await send(
        Array.from({ length: 20 }, (_, i) =>
          beacon(SLOW, { visitorId: `flood-${visitors + i}`, sessionId: 's', path: `${path}${visitors + i}`, title: 'T'.repeat(250) }),
        ),
      );
      visitors += 20;
    }
    const close = t
      .logs()
      .filter((l) => String(l.msg).startsWith('[live-close]'))
      .at(-1)!;
    expect(close).toMatchObject({ account: SLOW, scope: 'admin' });

    await send([beacon(SLOW, { visitorId: 'after-drop', sessionId: 's', path: '/after' })]);
    await good.waitFor((m) => m.type === 'join' && m.visitor.visitorId === 'after-drop', 20_000);
    const joins = good.messages.filter((m: Msg) => m.type === 'join');
    expect(joins).toHaveLength(visitors + 1);
    expect(joins.at(-1)!.online).toBe(visitors + 1);
    const seqs = good.messages.map((m) => m.seq as number);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
    sock.destroy();
    good.close();
  });

  it('rejects a huge path, malformed ids and unknown event types with 400; forged identity fields are ignored', async () => {
    const watcher = await LiveClient.connect(wsUrl(t.url, '/live', { key: key(B) }));
    await watcher.waitFor((m) => m.type === 'snapshot');
    const bad = [
      beacon(B, { path: `/${'x'.repeat(5000)}` }),
      beacon(B, { visitorId: 'a|b' }),
      beacon(B, { sessionId: 'x'.repeat(500) }),
      beacon(B, { type: 'join' }),
      beacon(B, { path: 'no-leading-slash' }),
    ];
    for (const e of bad) {
      const res = await postEvent(t.url, e);
      expect(res.status).toBe(400);
    }
    const forged = await postEvent(
      t.url,
      beacon(B, { visitorId: 'forger', sessionId: 'fs', path: '/f', person_id: 'p-1', personId: 'p-1', authenticated: true, pv: 99 }),
    );
    expect(forged.status).toBe(204);
    const join = await watcher.waitFor((m) => m.type === 'join');
    expect(join.visitor).toMatchObject({ visitorId: 'forger', personId: null, authenticated: false, pagesViewed: 1 });
    const online = await (await fetch(`${t.url}/api/online`, { headers: { authorization: `Bearer ${key(B)}` } })).json();
    expect(online).toMatchObject({ online: 1, authenticated: 0, pages: [{ path: '/f', count: 1, authenticated: 0 }] });
    expect(watcher.messages.filter((m) => m.type === 'join')).toHaveLength(1);
    watcher.close();
  });
});
