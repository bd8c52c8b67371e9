import { describe, expect, it } from 'vitest';
import { BROWSER_UA, beacon, eventually, postEvent } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { normalizeEvent } from '../../src/domain/event.normalize.js';
import { zBeaconEvent } from '../../src/domain/event.schema.js';
import { LiveClient, wsUrl, type Msg } from './presence.live-client.js';
import { cliAgainst } from '../support/cli.js';

const GRACE_MS = 400;
const SEGMENTS = { '/north/': 'north', '/south/': 'south' };
const ACCOUNTS = ['pl-feed', 'pl-reload', 'pl-auth', 'pl-page', 'pl-public', 'pl-cli', 'pl-sub', 'pl-import'];

const t = useTestService({
  withRedis: true,
  accounts: ACCOUNTS,
  accountFields: Object.fromEntries(ACCOUNTS.map((a) => [a, { presence: { heartbeatMs: 15_000, ttlMs: 45_000, graceMs: GRACE_MS }, pageSegments: SEGMENTS }])),
  env: { PRESENCE_SWEEP_MS: '50' },
});

const key = (id: string) => t.accounts.find((a) => a.id === id)!.adminKey;
const admin = (id: string) => ({ authorization: `Bearer ${key(id)}` });

async function send(events: Record<string, unknown>[]): Promise<void> {
  const res = await postEvent(t.url, { events });
  expect(res.status).toBe(204);
}

async function api<T = Msg>(path: string, account: string): Promise<T> {
  const res = await fetch(`${t.url}${path}`, { headers: admin(account) });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

/** Seq numbers after the snapshot must run without gaps or repeats. */
function expectContiguous(c: LiveClient): void {
  const seqs = c.messages.map((m) => m.seq as number);
  for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
}

describe('live presence feed', () => {
  it('starts with a snapshot, then sends join, event, update and leave in order; tabs count once', async () => {
    const acct = 'pl-feed';
    await send([beacon(acct, { visitorId: 'v0', sessionId: 's0', path: '/north/a', title: 'North A' })]);
    const c = await LiveClient.connect(wsUrl(t.url, '/live'), admin(acct));
    const snap = await c.waitFor((m) => m.type === 'snapshot');
    expect(c.messages[0]).toBe(snap);
    expect(snap).toMatchObject({ account: acct, page: null, online: 1, authenticated: 0, anonymous: 1, percentages: { authenticated: 0, anonymous: 100 } });
    expect(snap.pages).toEqual([{ path: '/north/a', count: 1, authenticated: 0 }]);
    expect(snap.visitors).toHaveLength(1);
    expect(snap.visitors[0]).toMatchObject({
      visitorId: 'v0',
      sessionId: 's0',
      path: '/north/a',
      title: 'North A',
      pagesViewed: 1,
      tabs: 1,
      uaFamily: 'Chrome',
    });

    // First tab: join, then the pageview itself.
    await send([beacon(acct, { visitorId: 'v1', sessionId: 's1', path: '/south/x?utm=1', title: 'South X' })]);
    const join = await c.waitFor((m) => m.type === 'join' && m.visitor.visitorId === 'v1');
    expect(join).toMatchObject({ online: 2, anonymous: 2, pages: [{ path: '/south/x', count: 1, authenticated: 0 }] });
    expect(join.visitor).toMatchObject({ path: '/south/x', title: 'South X', tabs: 1, openPages: ['/south/x'], pagesViewed: 1 });
    await c.waitFor((m) => m.type === 'event' && m.visitorId === 'v1' && m.event.type === 'pageview');

    // Second tab of the same visitor on another page: an update, not a second join.
    await send([beacon(acct, { visitorId: 'v1', sessionId: 's2', path: '/north/y', type: 'heartbeat' })]);
    const second = await c.waitFor((m) => m.type === 'update' && m.visitor.tabs === 2);
    expect(second).toMatchObject({ online: 2, pages: [{ path: '/north/y', count: 1, authenticated: 0 }] });
    expect(second.visitor.openPages).toEqual(['/north/y', '/south/x']);
    // A background tab's heartbeat does not take over the page shown for the visitor.
    expect(second.visitor.path).toBe('/south/x');

    // Closing one tab (after the grace) is an update; closing the last is the one leave.
    await send([beacon(acct, { visitorId: 'v1', sessionId: 's1', path: '/south/x', type: 'leave' })]);
    const oneTab = await c.waitFor((m) => m.type === 'update' && m.visitor.visitorId === 'v1' && m.visitor.tabs === 1);
    expect(oneTab.visitor).toMatchObject({ path: '/north/y', sessionId: 's2', openPages: ['/north/y'] });
    expect(oneTab.pages).toEqual([{ path: '/south/x', count: 0, authenticated: 0 }]);
    await send([beacon(acct, { visitorId: 'v1', sessionId: 's2', path: '/north/y', type: 'leave' })]);
    const leave = await c.waitFor((m) => m.type === 'leave' && m.visitorId === 'v1');
    expect(leave).toMatchObject({ reason: 'leave', online: 1, anonymous: 1, pages: [{ path: '/north/y', count: 0, authenticated: 0 }] });

    expect(c.about('v1').map((m) => m.type)).toEqual(['join', 'event', 'update', 'update', 'leave']);
    expect(c.messages[1]!.seq).toBe(snap.seq + 1);
    expectContiguous(c);
    const online = await api('/api/online', acct);
    expect(online).toMatchObject({ online: 1, pages: [{ path: '/north/a', count: 1, authenticated: 0 }] });
    c.close();
  });

  it('absorbs a reload within the grace period: no leave and no second join', async () => {
    const acct = 'pl-reload';
    const c = await LiveClient.connect(wsUrl(t.url, '/live', { key: key(acct) }));
    await c.waitFor((m) => m.type === 'snapshot');
    await send([beacon(acct, { visitorId: 'r1', sessionId: 'rs', path: '/listing/1' })]);
    await send([beacon(acct, { visitorId: 'r1', sessionId: 'rs', path: '/listing/1', type: 'leave' })]);
    await send([beacon(acct, { visitorId: 'r1', sessionId: 'rs', path: '/listing/1' })]);
    // Well past the grace and several sweeps.
    await new Promise((r) => setTimeout(r, GRACE_MS * 3));
    const types = c.about('r1').map((m) => m.type);
    expect(types).toEqual(['join', 'event', 'update', 'event']);
    expect(c.about('r1')[2]!.visitor.pagesViewed).toBe(2);
    const live = await api('/api/visitors/live', acct);
    expect(live.online).toBe(1);
    expect(live.visitors.map((v: Msg) => v.visitorId)).toEqual(['r1']);

    // Without a reload, the leave comes once the grace is over.
    await send([beacon(acct, { visitorId: 'r1', sessionId: 'rs', path: '/listing/1', type: 'leave' })]);
    await c.waitFor((m) => m.type === 'leave' && m.visitorId === 'r1');
    await new Promise((r) => setTimeout(r, GRACE_MS));
    expect(c.about('r1').filter((m) => m.type === 'leave')).toHaveLength(1);
    expectContiguous(c);
    c.close();
  });

  it('splits authenticated and anonymous visitors and breaks them down by segment', async () => {
    const acct = 'pl-auth';
    const account = t.service.accounts.get(acct)!;
    const now = Date.now();
    // A person id comes from identity (a signed cookie); applied here as identity would hand it over.
    const known = normalizeEvent(zBeaconEvent.parse(beacon(acct, { visitorId: 'k1', sessionId: 'k1s', path: '/south/home', segment: 'north' })), acct, {
      receivedAt: now,
      userAgent: BROWSER_UA,
      ipHash: 'h',
      personId: 'p-42',
    });
    await t.service.ctx!.presence.apply(account, [known]);
    await send([
      beacon(acct, { visitorId: 'a1', sessionId: 'a1s', path: '/north/home', segment: 'north' }),
      beacon(acct, { visitorId: 'a2', sessionId: 'a2s', path: '/south/home', segment: 'south' }),
      beacon(acct, { visitorId: 'a3', sessionId: 'a3s', path: '/about' }),
    ]);
    await send([beacon(acct, { visitorId: 'a3', sessionId: 'a3s', path: '/about', type: 'click', label: 'call' })]);

    const online = await api('/api/online', acct);
    expect(online).toMatchObject({
      account: acct,
      online: 4,
      authenticated: 1,
      anonymous: 3,
      percentages: { authenticated: 25, anonymous: 75 },
      totalPages: 3,
      crossSegment: 1,
    });
    expect(online.pages).toEqual([
      { path: '/south/home', count: 2, authenticated: 1 },
      { path: '/about', count: 1, authenticated: 0 },
      { path: '/north/home', count: 1, authenticated: 0 },
    ]);
    expect(online.segments).toEqual([
      { segment: 'north', online: 2, crossSegment: 1 },
      { segment: 'south', online: 1, crossSegment: 0 },
    ]);

    const page = await api(`/api/online?page=${encodeURIComponent('/south/home')}`, acct);
    expect(page).toMatchObject({ page: '/south/home', online: 2, authenticated: 1, anonymous: 1, percentages: { authenticated: 50, anonymous: 50 } });
    expect(page.segments).toEqual([
      { segment: 'north', online: 1, crossSegment: 1 },
      { segment: 'south', online: 1, crossSegment: 0 },
    ]);

    const live = await api('/api/visitors/live', acct);
    // Sorted by last activity: a3 clicked last.
    expect(live.visitors[0].visitorId).toBe('a3');
    expect(live.visitors.map((v: Msg) => v.visitorId).sort()).toEqual(['a1', 'a2', 'a3', 'k1']);
    const k1 = live.visitors.find((v: Msg) => v.visitorId === 'k1');
    expect(k1).toMatchObject({ personId: 'p-42', authenticated: true, segment: 'north', pageSegment: 'south', crossSegment: true });
    const limited = await api('/api/visitors/live?limit=2', acct);
    expect(limited).toMatchObject({ online: 4, truncated: true });
    expect(limited.visitors).toHaveLength(2);
  });

  it('a page subscription sees that page only: joins, navigations away and its events', async () => {
    const acct = 'pl-page';
    await send([beacon(acct, { visitorId: 'p0', sessionId: 'p0s', path: '/north/target' })]);
    const c = await LiveClient.connect(wsUrl(t.url, '/live', { key: key(acct), page: '/north/target' }));
    const snap = await c.waitFor((m) => m.type === 'snapshot');
    expect(snap).toMatchObject({ page: '/north/target', online: 1, pages: [{ path: '/north/target', count: 1, authenticated: 0 }] });
    expect(snap.visitors.map((v: Msg) => v.visitorId)).toEqual(['p0']);

    await send([beacon(acct, { visitorId: 'p1', sessionId: 'p1s', path: '/elsewhere' })]);
    await send([beacon(acct, { visitorId: 'p1', sessionId: 'p1s', path: '/north/target' })]);
    await send([beacon(acct, { visitorId: 'p1', sessionId: 'p1s', path: '/north/target', type: 'scroll', depth: 50 })]);
    await send([beacon(acct, { visitorId: 'p1', sessionId: 'p1s', path: '/other' })]);
    const left = await c.waitFor((m) => m.type === 'leave' && m.visitorId === 'p1');
    expect(left).toMatchObject({ page: '/north/target', reason: 'navigate', online: 1 });
    expect(c.about('p1').map((m) => [m.type, m.event?.type])).toEqual([
      ['join', undefined],
      ['event', 'pageview'],
      ['event', 'scroll'],
      ['leave', undefined],
    ]);
    expect(c.messages.every((m) => m.type === 'snapshot' || m.page === '/north/target')).toBe(true);
    c.close();
  });

  it('the public feed sends counts only, never identities', async () => {
    const acct = 'pl-public';
    const c = await LiveClient.connect(wsUrl(t.url, '/live/public', { account: acct, page: '/south/shared' }));
    const site = await LiveClient.connect(wsUrl(t.url, '/live/public', { account: acct }));
    await c.waitFor((m) => m.type === 'count');
    await site.waitFor((m) => m.type === 'count');
    await send([beacon(acct, { visitorId: 'u1', sessionId: 'u1s', path: '/south/shared' })]);
    await send([beacon(acct, { visitorId: 'u2', sessionId: 'u2s', path: '/south/shared?x=1' })]);
    await send([beacon(acct, { visitorId: 'u3', sessionId: 'u3s', path: '/other' })]);
    await c.waitFor((m) => m.online === 2);
    await site.waitFor((m) => m.online === 3);
    expect(c.messages).toEqual([
      { type: 'count', account: acct, page: '/south/shared', online: 0 },
      { type: 'count', account: acct, page: '/south/shared', online: 1 },
      { type: 'count', account: acct, page: '/south/shared', online: 2 },
    ]);
    expect(site.messages.map((m) => m.online)).toEqual([0, 1, 2, 3]);
    expect(JSON.stringify([...c.messages, ...site.messages])).not.toMatch(/u1|u2|u3|visitor/);
    c.close();
    site.close();
  });

  it('ignores a malformed diff, and sends clients to a fresh snapshot when diffs went missing', async () => {
    const acct = 'pl-feed';
    const c = await LiveClient.connect(wsUrl(t.url, '/live', { key: key(acct) }));
    const snap = await c.waitFor((m) => m.type === 'snapshot');
    const channel = t.service.keys.presenceChannel(acct);
    await t.service.redis.publish(channel, 'not a diff');
    await eventually(() => t.messages().includes('[presence-diff] dropping malformed diff'));
    expect(c.closedWith).toBeUndefined();
    // A diff numbered past the next one: this gateway missed some, so its clients start over.
    await t.service.redis.publish(
      channel,
      JSON.stringify({ seq: snap.seq + 5, k: 'event', v: 'ghost', e: { type: 'click', path: '/', label: '', depth: 0, listing: '', ts: 0, id: 'x' } }),
    );
    await eventually(() => c.closedWith !== undefined);
    expect(c.closedWith).toBe(4001);
    expect(c.messages.map((m) => m.type)).toEqual(['snapshot']);
    const again = await LiveClient.connect(wsUrl(t.url, '/live', { key: key(acct) }));
    expect(await again.waitFor((m) => m.type === 'snapshot')).toMatchObject({ online: 1 });
    again.close();
  });

  it('subscribes this gateway to an account’s diffs only once a client of it connects here', async () => {
    const acct = 'pl-sub';
    const channel = t.service.keys.presenceChannel(acct);
    const subscribers = async () => Number(((await t.service.redis.call('PUBSUB', 'NUMSUB', channel)) as [string, number])[1]);
    // Its visitors are online, yet nobody watches the account here: its diffs do not come to this process.
    const watched = t.service.keys.presenceWatched(acct);
    await send([beacon(acct, { visitorId: 'sub-1', sessionId: 'sub-1s', path: '/sub' })]);
    expect(await subscribers()).toBe(0);
    expect(await t.service.redis.exists(watched)).toBe(0);
    const c = await LiveClient.connect(wsUrl(t.url, '/live', { key: key(acct) }));
    await c.waitFor((m) => m.type === 'snapshot');
    expect(await subscribers()).toBe(1);
    // …and the account is marked watched, so the presence scripts build its diffs.
    expect(await t.service.redis.pttl(watched)).toBeGreaterThan(0);
    await send([beacon(acct, { visitorId: 'sub-2', sessionId: 'sub-2s', path: '/sub' })]);
    await c.waitFor((m) => m.type === 'join' && m.visitor.visitorId === 'sub-2');

    // The mark lapses while the gateway still has the client (it stalled): the changes meanwhile
    // are not published, but they take their numbers, so the next diff shows the gap and the
    // client is sent to a fresh snapshot rather than left without them.
    await t.service.redis.del(watched);
    await send([beacon(acct, { visitorId: 'sub-3', sessionId: 'sub-3s', path: '/sub' })]);
    await t.service.redis.set(watched, '1', 'PX', 30_000);
    expect(c.closedWith).toBeUndefined();
    await send([beacon(acct, { visitorId: 'sub-4', sessionId: 'sub-4s', path: '/sub' })]);
    await eventually(() => c.closedWith !== undefined);
    expect(c.closedWith).toBe(4001);
    expect(c.about('sub-3')).toEqual([]);
    const again = await LiveClient.connect(wsUrl(t.url, '/live', { key: key(acct) }));
    expect(await again.waitFor((m) => m.type === 'snapshot')).toMatchObject({ online: 4 });
    again.close();
  });

  it('events imported through the admin API put a visitor online only when they are recent', async () => {
    const acct = 'pl-import';
    const post = (events: Record<string, unknown>[]) =>
      fetch(`${t.url}/api/events`, { method: 'POST', headers: { ...admin(acct), 'content-type': 'application/json' }, body: JSON.stringify({ events }) });
    // An hour ago is well past the account's 45 s presence TTL: history, stored but not online.
    const hourAgo = Date.now() - 3600_000;
    const old = await post([beacon(acct, { visitorId: 'old', sessionId: 'so', path: '/import/old', ts: hourAgo })]);
    expect(await old.json()).toEqual({ accepted: 1, duplicates: 0 });
    const fresh = await post([beacon(acct, { visitorId: 'now', sessionId: 'sn', path: '/import/now', ts: Date.now() - 1000 })]);
    expect(await fresh.json()).toEqual({ accepted: 1, duplicates: 0 });
    const online = await api<{ online: number; pages: { path: string }[] }>('/api/online', acct);
    expect(online.online).toBe(1);
    expect(online.pages.map((p) => p.path)).toEqual(['/import/now']);
    // A browser's beacon with the same old time still counts: a browser's clock may be off.
    await send([beacon(acct, { visitorId: 'skewed', sessionId: 'sk', path: '/import/skewed', ts: hourAgo })]);
    expect((await api<{ online: number }>('/api/online', acct)).online).toBe(2);
    // The old event is stored all the same.
    await eventually(async () => {
      const r = await fetch(`${t.url}/api/sessions/so`, { headers: admin(acct) });
      return r.status === 200 || undefined;
    });
  });

  it('the CLI shows who is online and the live visitor list', async () => {
    const acct = 'pl-cli';
    await send([
      beacon(acct, { visitorId: 'c1', sessionId: 'c1s', path: '/north/one', title: 'One' }),
      beacon(acct, { visitorId: 'c2', sessionId: 'c2s', path: '/north/one', title: 'One' }),
      beacon(acct, { visitorId: 'c3', sessionId: 'c3s', path: '/two', title: 'Two' }),
    ]);
    const run = (argv: string[]) => cliAgainst(t.url, key(acct), argv);
    const json = await run(['online', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({
      online: 3,
      anonymous: 3,
      pages: [
        { path: '/north/one', count: 2 },
        { path: '/two', count: 1 },
      ],
    });
    const table = await run(['online']);
    expect(table.out).toMatch(/\/north\/one\s+2\s+0/);
    expect(table.out).toContain('3 online: 0 authenticated (0%), 3 anonymous (100%)');
    const visitors = await run(['live-visitors', '--limit', '2']);
    expect(visitors.code).toBe(0);
    expect(visitors.out.split('\n').filter((l) => l.includes('anon c'))).toHaveLength(2);
    expect(visitors.out).toContain('3 online (0 authenticated, 3 anonymous); showing 2');
    const bad = await run(['live-visitors', '--limit', 'lots']);
    expect(bad.code).toBe(2);
  });
});
