import { beforeAll, describe, expect, it } from 'vitest';
import { beacon, BROWSER_UA, eventually, postEvent, randomId, rows, type TestAccount } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { cliAgainst } from '../support/cli.js';

const t = useTestService({ withRedis: true, accounts: [randomId('mga'), randomId('mgb')] });
let A: TestAccount;
let B: TestAccount;

beforeAll(() => {
  [A, B] = t.accounts as [TestAccount, TestAccount];
});

async function tokenFor(acct: TestAccount, personId: string): Promise<string> {
  const res = await fetch(`${t.url}/api/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${acct.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ personId }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

/** Click a recommendation link; returns the `mxy_v=…` pair the browser keeps. */
async function clickLink(token: string, session: string, cookie?: string): Promise<string> {
  const res = await fetch(`${t.url}/listings/12-high-st/click?${new URLSearchParams({ account: A.id, session, v: token, rec: randomId('r') })}`, {
    redirect: 'manual',
    headers: { 'user-agent': BROWSER_UA, ...(cookie ? { cookie } : {}) },
  });
  expect(res.status).toBe(302);
  const set = res.headers.get('set-cookie');
  expect(set).not.toBeNull();
  return set!.split(';')[0]!;
}

async function send(events: Record<string, unknown>[], cookie?: string): Promise<void> {
  const res = await postEvent(t.url, { events }, cookie ? { cookie } : {});
  expect(res.status).toBe(204);
}

// Log lines name persons and visitors by keyed pseudonyms (LOG_PERSON_IDS=pseudonym, the default).
const ps = (person: string) => t.service.ids.personLogId(A.id, person)!;
const vs = (visitor: string) => t.service.ids.visitorLogId(A.id, visitor)!;
const mergeLine = (person: string, visitor: string) => () =>
  t.messages().find((m) => m.startsWith(`[anonvisitor-merge] account=${A.id} person=${ps(person)} visitor=${vs(visitor)} `));

/** Sessions attributed to a person, resolved the way person-level queries do: the visitor's newest edge (argMax by ts), else the cookie's person. */
async function personSessions(person: string): Promise<{ session_id: string; visitor_id: string; raw_persons: string[]; before_edge: number }[]> {
  return rows(
    t.ch,
    `WITH edges AS (
       SELECT visitor_id, argMax(person_id, ts) AS edge_person, max(ts) AS edge_ts
       FROM identity_edges WHERE account_id = {a:String} GROUP BY visitor_id
     )
     SELECT e.session_id AS session_id, any(e.visitor_id) AS visitor_id, arraySort(groupUniqArray(e.person_id)) AS raw_persons,
            toUInt8(min(e.received_at) < any(x.edge_ts)) AS before_edge
     FROM events AS e LEFT JOIN edges AS x ON x.visitor_id = e.visitor_id
     WHERE e.account_id = {a:String} AND e.visitor_id != ''
       AND if(x.edge_person != '', x.edge_person, e.person_id) = {p:String}
     GROUP BY e.session_id ORDER BY e.session_id`,
    { a: A.id, p: person },
  );
}

async function edgesOf(visitor: string) {
  return rows<{ person_id: string; source: string; confidence: number }>(
    t.ch,
    'SELECT person_id, source, confidence FROM identity_edges WHERE account_id = {a:String} AND visitor_id = {v:String} ORDER BY ts',
    { a: A.id, v: visitor },
  );
}

async function edgeRowsFlushed(): Promise<number> {
  const text = await (await fetch(`${t.url}/metrics`)).text();
  const m = /^visitor_flush_rows_total\{table="identity_edges"\} (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

describe('binding a browser to a person', () => {
  it('attributes the sessions from before the click retroactively, and the merge count matches ClickHouse, even for events still in the stream', async () => {
    const V = randomId('v');
    const W = randomId('v');
    const [s1, s2, s3] = [randomId('s1'), randomId('s2'), randomId('s3')];
    const flusher = t.service.flusher!;
    let cookie = '';
    // Hold the flusher: at binding time the earlier events are all still waiting in the stream.
    await flusher.stop();
    try {
      await send([
        beacon(A.id, { visitorId: V, sessionId: s1, path: '/a' }),
        beacon(A.id, { visitorId: V, sessionId: s1, type: 'scroll', depth: 50, path: '/a' }),
      ]);
      await send([beacon(A.id, { visitorId: V, sessionId: s2, path: '/b' })]);
      await send([beacon(A.id, { visitorId: W, sessionId: randomId('sw'), path: '/other-browser' })]);
      const token = await tokenFor(A, 'p-ret');
      cookie = await clickLink(token, s3);
      await send([beacon(A.id, { visitorId: V, sessionId: s3, path: '/listings/12-high-st' })], cookie);
      expect(await t.service.redis.xlen(t.service.keys.eventStream(A.id))).toBeGreaterThanOrEqual(6);
      expect(mergeLine('p-ret', V)()).toBeUndefined();
    } finally {
      flusher.start();
    }
    const line = await eventually(mergeLine('p-ret', V));
    expect(line).toBe(`[anonvisitor-merge] account=${A.id} person=${ps('p-ret')} visitor=${vs(V)} sessions=2 source=token`);

    const sessions = await personSessions('p-ret');
    expect(sessions.map((s) => s.session_id)).toEqual([s1, s2, s3].sort());
    // No event was rewritten: the earlier ones still carry no person; attribution is the edge's.
    expect(Object.fromEntries(sessions.map((s) => [s.session_id, s.raw_persons]))).toEqual({ [s1]: [''], [s2]: [''], [s3]: ['p-ret'] });
    // The log's count is the data's count: sessions of the visitor from before the edge.
    expect(sessions.filter((s) => s.before_edge === 1).length).toBe(2);
    expect(await edgesOf(V)).toEqual([{ person_id: 'p-ret', source: 'token', confidence: 1 }]);

    // Later requests of the bound browser are the person's, and write no second edge.
    const flushedBefore = await edgeRowsFlushed();
    expect(flushedBefore).toBeGreaterThan(0);
    const later = randomId('s4');
    await send([beacon(A.id, { visitorId: V, sessionId: later, path: '/c' }), beacon(A.id, { visitorId: V, sessionId: later, path: '/d' })], cookie);
    await eventually(async () => (await personSessions('p-ret')).some((s) => s.session_id === later));
    expect(await edgeRowsFlushed()).toBe(flushedBefore);
    expect(t.messages().filter((m) => m.startsWith(`[anonvisitor-merge] account=${A.id} person=${ps('p-ret')} visitor=${vs(V)} `))).toHaveLength(1);
  });

  it('cross-device: a second browser bound to the same person shows as the same person', async () => {
    const phone = randomId('v');
    const laptop = randomId('v');
    const [p1, p2, l1] = [randomId('ph'), randomId('ph'), randomId('lp')];
    await send([beacon(A.id, { visitorId: laptop, sessionId: l1, path: '/x' })]);
    await send([beacon(A.id, { visitorId: phone, sessionId: p1, path: '/y' })]);
    const token = await tokenFor(A, 'p-multi');
    // Laptop: bound by its first event with the cookie.
    const cookie = await clickLink(token, randomId('lc'));
    await send([beacon(A.id, { visitorId: laptop, sessionId: randomId('l2'), path: '/z' })], cookie);
    // Phone: the snippet's mxy_a cookie names the visitor on the click itself, which binds it.
    await clickLink(token, p2, `mxy_a=${phone}`);
    expect(await eventually(mergeLine('p-multi', laptop))).toBe(
      `[anonvisitor-merge] account=${A.id} person=${ps('p-multi')} visitor=${vs(laptop)} sessions=1 source=token`,
    );
    expect(await eventually(mergeLine('p-multi', phone))).toBe(
      `[anonvisitor-merge] account=${A.id} person=${ps('p-multi')} visitor=${vs(phone)} sessions=1 source=token`,
    );

    const sessions = await personSessions('p-multi');
    expect(new Set(sessions.map((s) => s.visitor_id))).toEqual(new Set([laptop, phone]));
    expect(sessions.map((s) => s.session_id)).toContain(p1);
    expect(sessions.map((s) => s.session_id)).toContain(l1);
    // Person-level grouping: one person, two devices.
    const people = await rows<{ who: string; visitors: number; sessions: number }>(
      t.ch,
      `SELECT if(x.edge_person != '', x.edge_person, e.person_id) AS who, uniqExact(e.visitor_id) AS visitors, uniqExact(e.session_id) AS sessions
       FROM events AS e
       LEFT JOIN (SELECT visitor_id, argMax(person_id, ts) AS edge_person FROM identity_edges WHERE account_id = {a:String} GROUP BY visitor_id) AS x ON x.visitor_id = e.visitor_id
       WHERE e.account_id = {a:String} AND e.visitor_id IN {v:Array(String)}
       GROUP BY who`,
      { a: A.id, v: [laptop, phone] },
    );
    expect(people).toEqual([{ who: 'p-multi', visitors: 2, sessions: sessions.length }]);
    expect(sessions.length).toBe(4);
  });

  it('re-binding to another person: the newest edge wins and the older one stays as history', async () => {
    const V = randomId('v');
    const s0 = randomId('s');
    await send([beacon(A.id, { visitorId: V, sessionId: s0, path: '/shared-computer' })]);
    const first = `mxy_v=${await tokenFor(A, 'p-first')}`;
    await send([beacon(A.id, { visitorId: V, sessionId: randomId('s'), path: '/1' })], first);
    expect(await eventually(mergeLine('p-first', V))).toBe(
      `[anonvisitor-merge] account=${A.id} person=${ps('p-first')} visitor=${vs(V)} sessions=1 source=token`,
    );

    const second = `mxy_v=${await tokenFor(A, 'p-second')}`;
    await send([beacon(A.id, { visitorId: V, sessionId: randomId('s'), path: '/2' })], second);
    expect(t.messages()).toContain(`[token-bind] rebind account=${A.id} visitor=${vs(V)} from=${ps('p-first')} to=${ps('p-second')}`);
    expect(await eventually(mergeLine('p-second', V))).toBe(
      `[anonvisitor-merge] account=${A.id} person=${ps('p-second')} visitor=${vs(V)} sessions=2 source=token previous=${ps('p-first')}`,
    );

    expect((await edgesOf(V)).map((e) => e.person_id)).toEqual(['p-first', 'p-second']);
    const current = await rows<{ p: string }>(
      t.ch,
      'SELECT argMax(person_id, ts) AS p FROM identity_edges WHERE account_id = {a:String} AND visitor_id = {v:String}',
      { a: A.id, v: V },
    );
    expect(current).toEqual([{ p: 'p-second' }]);
    expect((await personSessions('p-second')).map((s) => s.session_id)).toContain(s0);
    expect((await personSessions('p-first')).map((s) => s.visitor_id)).not.toContain(V);
  });
});

describe('POST /api/identify', () => {
  it("binds a visitor from the operator's login (source identify) and merges its earlier sessions", async () => {
    const V = randomId('v');
    await send([beacon(A.id, { visitorId: V, sessionId: randomId('s'), path: '/login' })]);
    await send([beacon(A.id, { visitorId: V, sessionId: randomId('s'), path: '/account' })]);
    await eventually(
      async () => (await rows(t.ch, 'SELECT 1 FROM events WHERE account_id = {a:String} AND visitor_id = {v:String}', { a: A.id, v: V })).length === 2,
    );
    const res = await fetch(`${t.url}/api/identify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${A.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ visitorId: V, personId: 'p-login', confidence: 0.75 }),
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ visitorId: V, personId: 'p-login', source: 'identify', confidence: 0.75 });
    expect(await eventually(mergeLine('p-login', V))).toBe(
      `[anonvisitor-merge] account=${A.id} person=${ps('p-login')} visitor=${vs(V)} sessions=2 source=identify`,
    );
    expect(await edgesOf(V)).toEqual([{ person_id: 'p-login', source: 'identify', confidence: 0.75 }]);
    expect((await personSessions('p-login')).length).toBe(2);
  });

  it('needs the admin key of the account, and a valid body', async () => {
    const body = JSON.stringify({ visitorId: 'v-1', personId: 'p-1' });
    expect((await fetch(`${t.url}/api/identify`, { method: 'POST', body })).status).toBe(401);
    const other = await fetch(`${t.url}/api/identify?account=${A.id}`, { method: 'POST', headers: { authorization: `Bearer ${B.adminKey}` }, body });
    expect(other.status).toBe(403);
    const bad = await fetch(`${t.url}/api/identify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${A.adminKey}` },
      body: JSON.stringify({ visitorId: 'v 1', personId: 'p' }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid' });
    // Bytes that are not UTF-8 are refused as on every route, never read with replacement characters.
    const mangled = await fetch(`${t.url}/api/identify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${A.adminKey}` },
      body: Buffer.concat([Buffer.from('{"visitorId":"v-1","personId":"p-'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
    });
    expect(mangled.status).toBe(400);
    expect(await mangled.json()).toMatchObject({ error: 'invalid-utf8' });
  });
});

describe('CLI', () => {
  it('mint-token prints a token the click route accepts; identify binds a visitor', async () => {
    const mint = await cliAgainst(t.url, A.adminKey, ['mint-token', 'p-cli', '--ttl-days', '2', '--json']);
    expect(mint.err).toBe('');
    expect(mint.code).toBe(0);
    const minted = JSON.parse(mint.out) as { token: string; expiryMs: number };
    expect(minted.expiryMs - Date.now()).toBeGreaterThan(2 * 86_400_000 - 60_000);
    expect(minted.expiryMs - Date.now()).toBeLessThanOrEqual(2 * 86_400_000);
    expect(await clickLink(minted.token, randomId('s'))).toBe(`mxy_v=${minted.token}`);

    const V = randomId('v');
    const identify = await cliAgainst(t.url, A.adminKey, ['identify', V, 'p-cli', '--json']);
    expect(identify.code).toBe(0);
    expect(JSON.parse(identify.out)).toMatchObject({ visitorId: V, personId: 'p-cli', source: 'identify', confidence: 1 });
    await eventually(async () => (await edgesOf(V)).length === 1);

    const usage = await cliAgainst(t.url, A.adminKey, ['mint-token']);
    expect(usage.code).toBe(2);
    expect(usage.err).toContain('usage: visitor mint-token <personId>');
  });
});
