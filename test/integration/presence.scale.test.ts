import { beforeAll, describe, expect, it } from 'vitest';
import { beacon, eventually, postEvent, type TestService } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { LiveClient, wsUrl, type Msg } from './presence.live-client.js';

const ACCT = 'px-scale';
const VISITORS = 300;
const TABS = 3;
const PAGES = ['/', '/north/a', '/north/b', '/south/c', '/about'];

const first = useTestService({
  withRedis: true,
  accounts: [ACCT],
  // No grace: each tab's `leave` ends it at once, so the order of leaves is the order sent.
  accountFields: { [ACCT]: { presence: { heartbeatMs: 15_000, ttlMs: 60_000, graceMs: 0 } } },
});
let second: TestService;

beforeAll(async () => {
  // A second gateway process sharing the same Redis and namespace (same env, gateway role only).
  second = await first.fx.start({ reuse: first, env: { ROLES: 'gateway' } });
  expect(second.url).not.toBe(first.url);
});

/** Run `fn` over `items` with at most `n` in flight. */
async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

describe('presence under concurrent heartbeats, across two gateways', () => {
  it('counts people, not tabs, exactly; every gateway sees the same diffs in the same order', async () => {
    const key = first.account.adminKey;
    const onA = await LiveClient.connect(wsUrl(first.url, '/live', { key }));
    const onB = await LiveClient.connect(wsUrl(second.url, '/live'), { authorization: `Bearer ${key}` });
    const pageB = await LiveClient.connect(wsUrl(second.url, '/live/public', { account: ACCT, page: '/north/a' }));
    await Promise.all([onA, onB].map((c) => c.waitFor((m) => m.type === 'snapshot')));
    await pageB.waitFor((m) => m.type === 'count');

    const tabs = [];
    for (let v = 0; v < VISITORS; v++) for (let s = 0; s < TABS; s++) tabs.push({ v: `vis-${v}`, s: `tab-${v}-${s}`, page: PAGES[(v + s) % PAGES.length]! });
    const gateways = [first.url, second.url];
    const post = async (body: unknown) => {
      const res = await postEvent(gateways[Math.floor(Math.random() * 2)]!, body);
      expect(res.status).toBe(204);
    };

    // Every tab opens (pageview), then heartbeats twice, all interleaved across both gateways.
    const opening = shuffle(tabs).map((tab) => beacon(ACCT, { visitorId: tab.v, sessionId: tab.s, path: tab.page }));
    await pool(opening, 32, (e) => post(e));
    const beats = shuffle([...tabs, ...tabs]).map((tab) => beacon(ACCT, { visitorId: tab.v, sessionId: tab.s, path: tab.page, type: 'heartbeat' }));
    await pool(beats, 32, (e) => post(e));

    for (const url of gateways) {
      const online = await (await fetch(`${url}/api/online`, { headers: { authorization: `Bearer ${key}` } })).json();
      expect(online.online).toBe(VISITORS);
      expect(online.anonymous).toBe(VISITORS);
      const byPage = new Map<string, Set<string>>();
      for (const tab of tabs) byPage.set(tab.page, (byPage.get(tab.page) ?? new Set()).add(tab.v));
      expect(online.pages.map((p: Msg) => [p.path, p.count]).sort()).toEqual([...byPage].map(([p, s]) => [p, s.size]).sort());
    }

    // Every tab closes; a visitor leaves with their last tab only.
    const closing = shuffle(tabs).map((tab) => beacon(ACCT, { visitorId: tab.v, sessionId: tab.s, path: tab.page, type: 'leave' }));
    await pool(closing, 32, (e) => post(e));

    for (const c of [onA, onB]) await c.waitFor((m) => m.type === 'leave' && m.online === 0, 20_000);
    await eventually(async () => {
      const r = await (await fetch(`${second.url}/api/online`, { headers: { authorization: `Bearer ${key}` } })).json();
      return r.online === 0 && r.pages.length === 0;
    });

    for (const c of [onA, onB]) {
      const diffs = c.messages.slice(1);
      const joins = diffs.filter((m) => m.type === 'join');
      const leaves = diffs.filter((m) => m.type === 'leave');
      expect(joins).toHaveLength(VISITORS);
      expect(leaves).toHaveLength(VISITORS);
      expect(new Set(joins.map((m) => m.visitor.visitorId)).size).toBe(VISITORS);
      expect(new Set(leaves.map((m) => m.visitorId)).size).toBe(VISITORS);
      // Each message's count is the running count of joins minus leaves: exact at every step.
      let running = 0;
      const seen = new Map<string, string[]>();
      for (const m of diffs) {
        const id = m.visitor?.visitorId ?? m.visitorId;
        if (m.type === 'join') running++;
        if (m.type === 'leave') running--;
        if (m.type === 'join' || m.type === 'leave' || m.type === 'update') expect(m.online).toBe(running);
        seen.set(id, [...(seen.get(id) ?? []), m.type]);
      }
      for (const [, types] of seen) {
        expect(types[0]).toBe('join');
        expect(types.at(-1)).toBe('leave');
        expect(types.filter((x) => x === 'join' || x === 'leave')).toEqual(['join', 'leave']);
      }
      // Tabs are counted once: the maximum tabs of any visitor is TABS, and opening a visitor's
      // other tabs produced updates, never joins.
      expect(Math.max(...diffs.filter((m) => m.visitor).map((m) => m.visitor.tabs))).toBe(TABS);
      const seqs = diffs.map((m) => m.seq);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1] + 1);
    }
    // Both gateways delivered the same diffs in the same order.
    expect(onB.messages.slice(1)).toEqual(onA.messages.slice(1));

    // The public page feed on gateway B tracked the page count, ending at 0.
    const pageVisitors = new Set(tabs.filter((tab) => tab.page === '/north/a').map((tab) => tab.v)).size;
    expect(Math.max(...pageB.messages.map((m) => m.online))).toBe(pageVisitors);
    expect(pageB.messages.at(-1)!.online).toBe(0);
    for (const c of [onA, onB, pageB]) c.close();
  });
});
