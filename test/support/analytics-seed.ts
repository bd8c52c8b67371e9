/**
 * A realistic analytics data set for the analytics tests, and how to load it into a running
 * service through its real front doors: browser beacons (`POST /v/event`), the admin event and
 * recommendation routes, and stream rows (identity edges; events that carried a signed cookie).
 * Expected answers are computed from this data in the tests, never from the service's code.
 */
import { randomUUID } from 'node:crypto';
import { normalizeEvent } from '../../src/domain/event.normalize.js';
import { zBeaconEvent } from '../../src/domain/event.schema.js';
import { TABLES } from '../../src/adapters/clickhouse/tables.js';
import { eventually, postEvent, rows, type TestService } from './services.js';

export const UA = {
  desktopChrome: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
  iphoneSafari: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  windowsFirefox: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0',
  androidChrome: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36',
  ipadSafari: 'Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1',
};

export const MIN = 60_000;
export const HOUR = 3_600_000;

export interface SeedEvent {
  eventId: string;
  ts: number;
  type: 'pageview' | 'click' | 'scroll' | 'heartbeat' | 'leave';
  path: string;
  title?: string;
  referrer?: string;
  depth?: 25 | 50 | 75 | 100;
  dwellMs?: number;
  listing?: string;
  rec?: string;
  label?: string;
}

export interface SeedSession {
  account: string;
  sessionId: string;
  visitorId: string;
  ua: string;
  /**
   * beacon: POST /v/event; admin: POST /api/events; cookie: stream rows carrying a signed-cookie
   * person; link: stream rows as the click route writes them for a browser it does not know
   * (no visitor id, maybe no session).
   */
  via: 'beacon' | 'admin' | 'cookie' | 'link';
  cookiePerson?: string;
  events: SeedEvent[];
}

export interface SeedEdge {
  account: string;
  visitorId: string;
  personId: string;
  ts: number;
}

export interface SeedRec {
  account: string;
  recId: string;
  listing: string;
  sessionId?: string;
  personId?: string;
  ts: number;
}

export interface Seed {
  now: number;
  accounts: { acme: string; beta: string };
  sessions: SeedSession[];
  edges: SeedEdge[];
  recs: SeedRec[];
}

const TITLES: Record<string, string> = {
  '/': 'Acme Homes',
  '/search': 'Search homes',
  '/about': 'About us',
  '/listings/12-high-st': '12 High St — 3 bed semi',
  '/listings/4-mill-lane': '4 Mill Lane — 2 bed cottage',
  '/listings/9-park-rd': '9 Park Rd — 4 bed detached',
};

function listingOf(path: string): string | undefined {
  return /^\/listings\/([a-z0-9-]+)$/.exec(path)?.[1];
}

/** Steps of one session: [minutes after its start, event]. Page views get title and listing. */
type Step = [number, Omit<SeedEvent, 'eventId' | 'ts'>];

function session(
  account: string,
  sessionId: string,
  visitorId: string,
  ua: string,
  start: number,
  steps: Step[],
  via: SeedSession['via'] = 'beacon',
  cookiePerson?: string,
): SeedSession {
  return {
    account,
    sessionId,
    visitorId,
    ua,
    via,
    cookiePerson,
    events: steps.map(([min, e], i) => ({
      eventId: randomUUID(),
      // Seconds apart within a minute mark keep every event's time distinct.
      ts: start + min * MIN + i * 1000,
      ...(e.type === 'pageview' ? { title: TITLES[e.path], listing: listingOf(e.path) } : {}),
      ...e,
    })),
  };
}

const pv = (path: string, referrer?: string): Step[1] => ({ type: 'pageview', path, referrer });
const scroll = (path: string, depth: 25 | 50 | 75 | 100): Step[1] => ({ type: 'scroll', path, depth });
const leave = (path: string, dwellMs: number): Step[1] => ({ type: 'leave', path, dwellMs });
const recClick = (path: string, rec: string, listing: string): Step[1] => ({ type: 'click', path, rec, listing, label: 'recommended' });

/**
 * acme: Alice (two devices), Bob (whose browser was first mistaken for Carol, then re-bound to
 * him: newest edge wins), Carol, Erin (known only from her signed cookie), three anonymous
 * visitors; recommendations with impressions and clicks. beta: a second account that shares
 * a person id and a page path with acme, to prove isolation.
 */
export function buildSeed(acme: string, beta: string, now: number): Seed {
  const T = now;
  const sessions: SeedSession[] = [
    session(acme, 's-a1', 'v-alice-laptop', UA.desktopChrome, T - 20 * HOUR, [
      [0, pv('/', 'https://www.google.com/search?q=homes')],
      [1, pv('/listings/12-high-st', 'https://acme.example/')],
      [2, scroll('/listings/12-high-st', 25)],
      [3, scroll('/listings/12-high-st', 50)],
      [4, scroll('/listings/12-high-st', 75)],
      [6, leave('/listings/12-high-st', 95_000)],
    ]),
    session(acme, 's-a2', 'v-alice-phone', UA.iphoneSafari, T - 2 * HOUR, [
      [0, pv('/listings/12-high-st', 'https://mail.google.com/')],
      [1, scroll('/listings/12-high-st', 25)],
      [1, scroll('/listings/12-high-st', 50)],
      [2, { type: 'click', path: '/listings/12-high-st', label: 'floorplan' }],
      [3, recClick('/listings/12-high-st', 'r-100', '4-mill-lane')],
      [3, recClick('/listings/12-high-st', 'r-100', '4-mill-lane')],
      [4, pv('/listings/4-mill-lane', 'https://acme.example/listings/12-high-st')],
      [6, leave('/listings/4-mill-lane', 40_000)],
    ]),
    session(acme, 's-a3', 'v-alice-laptop', UA.desktopChrome, T - 30 * MIN, [
      [0, pv('/search')],
      [2, pv('/listings/9-park-rd', 'https://acme.example/search')],
      [3, scroll('/listings/9-park-rd', 25)],
      [4, scroll('/listings/9-park-rd', 50)],
      [5, scroll('/listings/9-park-rd', 75)],
      [6, scroll('/listings/9-park-rd', 100)],
      [8, leave('/listings/9-park-rd', 120_000)],
    ]),
    session(acme, 's-b1', 'v-bob', UA.windowsFirefox, T - 9 * HOUR, [
      [0, pv('/listings/4-mill-lane', 'https://l.facebook.com/')],
      [1, scroll('/listings/4-mill-lane', 25)],
      [2, leave('/listings/4-mill-lane', 20_000)],
    ]),
    session(acme, 's-b2', 'v-bob', UA.windowsFirefox, T - 1 * HOUR, [
      [0, pv('/')],
      [1, recClick('/', 'r-200', '4-mill-lane')],
      [2, pv('/listings/4-mill-lane', 'https://acme.example/')],
      [4, leave('/listings/4-mill-lane', 15_000)],
    ]),
    session(acme, 's-c1', 'v-carol', UA.androidChrome, T - 15 * HOUR, [
      [0, pv('/about', 'https://www.bing.com/')],
      [1, pv('/listings/9-park-rd', 'https://acme.example/about')],
      [2, leave('/listings/9-park-rd', 5_000)],
    ]),
    session(
      acme,
      's-e1',
      'v-erin',
      UA.desktopChrome,
      T - 4 * HOUR - 30 * MIN,
      [
        [0, pv('/listings/12-high-st')],
        [1, scroll('/listings/12-high-st', 25)],
        [2, leave('/listings/12-high-st', 30_000)],
      ],
      'cookie',
      'p-erin',
    ),
    session(acme, 's-n1', 'v-anon-1', UA.desktopChrome, T - 3 * HOUR, [
      [0, pv('/listings/12-high-st', 'https://www.rightmove.co.uk/x')],
      [1, scroll('/listings/12-high-st', 25)],
      [2, leave('/listings/12-high-st', 10_000)],
    ]),
    session(acme, 's-n2', 'v-anon-2', UA.ipadSafari, T - 40 * MIN, [
      [0, pv('/')],
      [1, pv('/search', 'https://acme.example/')],
      [2, { type: 'heartbeat', path: '/search' }],
    ]),
    session(
      acme,
      's-n3',
      'v-anon-3',
      'visitor-server/1.0',
      T - 6 * HOUR,
      [
        [0, pv('/listings/9-park-rd')],
        [1, recClick('/listings/9-park-rd', 'r-300', '9-park-rd')],
      ],
      'admin',
    ),
    // Carol opens the email recommendation's link on a browser the site has never seen.
    session(acme, '', '', UA.desktopChrome, T - 11 * HOUR, [[0, recClick('/listings/12-high-st/click', 'r-400', '12-high-st')]], 'link', 'p-carol'),
    session(beta, 's-x1', 'v-beta-1', UA.desktopChrome, T - 1 * HOUR, [
      [0, pv('/listings/12-high-st', 'https://www.google.com/')],
      [1, scroll('/listings/12-high-st', 25)],
      [2, recClick('/listings/12-high-st', 'r-900', '12-high-st')],
      [3, leave('/listings/12-high-st', 50_000)],
    ]),
  ];
  const edges: SeedEdge[] = [
    { account: acme, visitorId: 'v-alice-laptop', personId: 'p-alice', ts: T - 21 * HOUR },
    { account: acme, visitorId: 'v-alice-phone', personId: 'p-alice', ts: T - 2 * HOUR + 5 * MIN },
    { account: acme, visitorId: 'v-bob', personId: 'p-carol', ts: T - 10 * HOUR },
    { account: acme, visitorId: 'v-bob', personId: 'p-bob', ts: T - 5 * HOUR },
    { account: acme, visitorId: 'v-carol', personId: 'p-carol', ts: T - 15 * HOUR },
    // Same person id, other account: must never mix with acme's Alice.
    { account: beta, visitorId: 'v-beta-1', personId: 'p-alice', ts: T - 1 * HOUR },
  ];
  const recs: SeedRec[] = [
    ...['12-high-st', '4-mill-lane', '9-park-rd'].map((listing) => ({ account: acme, recId: 'r-100', listing, sessionId: 's-a2', ts: T - 2 * HOUR + 2 * MIN })),
    // The recommender re-reports one impression: it must count once.
    { account: acme, recId: 'r-100', listing: '12-high-st', sessionId: 's-a2', ts: T - 2 * HOUR + 2 * MIN },
    ...['4-mill-lane', '9-park-rd'].map((listing) => ({ account: acme, recId: 'r-200', listing, sessionId: 's-b2', ts: T - 1 * HOUR + 30_000 })),
    { account: acme, recId: 'r-300', listing: '9-park-rd', sessionId: 's-n3', ts: T - 6 * HOUR },
    // An email recommendation: person only, no session.
    { account: acme, recId: 'r-400', listing: '12-high-st', personId: 'p-carol', ts: T - 12 * HOUR },
    { account: acme, recId: 'r-500', listing: '4-mill-lane', sessionId: 's-c1', ts: T - 15 * HOUR },
    { account: beta, recId: 'r-900', listing: '12-high-st', sessionId: 's-x1', ts: T - 1 * HOUR },
    { account: beta, recId: 'r-900', listing: '4-mill-lane', sessionId: 's-x1', ts: T - 1 * HOUR },
  ];
  return { now, accounts: { acme, beta }, sessions, edges, recs };
}

/** A seed event as the beacon (or the admin ingest) sends it. */
export function beaconOf(s: SeedSession, e: SeedEvent): Record<string, unknown> {
  const b: Record<string, unknown> = {
    type: e.type,
    sessionId: s.sessionId,
    visitorId: s.visitorId,
    path: e.path,
    eventId: e.eventId,
    ts: e.ts,
    url: `https://acme.example${e.path}`,
  };
  for (const k of ['title', 'referrer', 'depth', 'dwellMs', 'listing', 'rec', 'label'] as const) if (e[k] !== undefined) b[k] = e[k];
  return b;
}

function chTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

export function adminHeaders(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
}

/** Load the seed through the service and wait until ClickHouse holds all of it. */
export async function loadSeed(t: TestService, seed: Seed): Promise<void> {
  const keyOf = (account: string) => t.accounts.find((a) => a.id === account)!.adminKey;
  for (const s of seed.sessions) {
    if (s.via === 'beacon') {
      const res = await postEvent(t.url, { events: s.events.map((e) => ({ account: s.account, ...beaconOf(s, e) })) }, { 'user-agent': s.ua });
      if (res.status !== 204) throw new Error(`beacon ${s.sessionId}: ${res.status} ${await res.text()}`);
    } else if (s.via === 'admin') {
      const res = await fetch(`${t.url}/api/events`, {
        method: 'POST',
        headers: { ...adminHeaders(keyOf(s.account)), 'user-agent': s.ua },
        body: JSON.stringify({ events: s.events.map((e) => beaconOf(s, e)) }),
      });
      if (res.status !== 200) throw new Error(`admin ingest ${s.sessionId}: ${res.status} ${await res.text()}`);
    } else {
      // Events a browser sent with a valid signed cookie: the gateway stamps the person on them.
      const rowsOut = s.events.map((e) => {
        const beacon = { account: s.account, ...beaconOf(s, e), sessionId: s.sessionId || 'x', visitorId: s.visitorId || 'x' };
        const row = normalizeEvent(zBeaconEvent.parse(beacon), s.account, { receivedAt: e.ts, userAgent: s.ua, ipHash: 'seed', personId: s.cookiePerson });
        return { table: TABLES.events, row: { ...row, session_id: s.sessionId, visitor_id: s.visitorId }, dedupeId: e.eventId };
      });
      await t.service.ctx!.rows.append(s.account, rowsOut);
    }
  }
  for (const account of [seed.accounts.acme, seed.accounts.beta]) {
    const edges = seed.edges.filter((e) => e.account === account);
    await t.service.ctx!.rows.append(
      account,
      edges.map((e) => ({
        table: TABLES.identityEdges,
        row: { account_id: e.account, visitor_id: e.visitorId, person_id: e.personId, source: 'test', confidence: 1, ts: chTime(e.ts) },
      })),
    );
    const recs = seed.recs.filter((r) => r.account === account);
    const res = await fetch(`${t.url}/api/recommendations`, {
      method: 'POST',
      headers: adminHeaders(keyOf(account)),
      body: JSON.stringify({ recommendations: recs.map(({ account: _a, ...r }) => r) }),
    });
    if (res.status !== 202) throw new Error(`recommendations: ${res.status} ${await res.text()}`);
  }
  const events = seed.sessions.reduce((n, s) => n + s.events.length, 0);
  let seen = '';
  try {
    await eventually(async () => {
      // Everything is flushed once both account streams are empty (entries go after the insert).
      const waiting = (await t.service.ctx!.rows.length(seed.accounts.acme)) + (await t.service.ctx!.rows.length(seed.accounts.beta));
      const [e] = await rows<{ n: number }>(t.ch, `SELECT toUInt32(count()) AS n FROM ${TABLES.events}`);
      seen = `events=${e!.n}/${events} waiting=${waiting}`;
      return waiting === 0 && e!.n === events;
    }, 20_000);
  } catch (err) {
    throw new Error(`seed did not land: ${seen}: ${(err as Error).message}`);
  }
}

// ---- Independent expectations ---------------------------------------------------------

export interface FlatEvent extends SeedEvent {
  account: string;
  sessionId: string;
  visitorId: string;
}

/** Events of an account; `withoutVisitor` adds those no visitor sent (they only count for CTR). */
export function flatEvents(seed: Seed, account: string, withoutVisitor = false): FlatEvent[] {
  return seed.sessions
    .filter((s) => s.account === account && (withoutVisitor || s.visitorId !== ''))
    .flatMap((s) => s.events.map((e) => ({ ...e, account, sessionId: s.sessionId, visitorId: s.visitorId })));
}

/** A visitor's person: the newest edge, else the signed-cookie person, else none. */
export function personOf(seed: Seed, account: string, visitorId: string): string | null {
  if (!visitorId) return null;
  const edges = seed.edges.filter((e) => e.account === account && e.visitorId === visitorId).sort((a, b) => b.ts - a.ts);
  if (edges[0]) return edges[0].personId;
  return seed.sessions.find((s) => s.account === account && s.visitorId === visitorId && s.cookiePerson)?.cookiePerson ?? null;
}

/** `person:<id>` or `visitor:<id>`: how person-level results group. */
export function whoKey(seed: Seed, account: string, visitorId: string): string {
  const p = personOf(seed, account, visitorId);
  return p ? `person:${p}` : `visitor:${visitorId}`;
}

export const iso = (ms: number): string => new Date(ms).toISOString();
