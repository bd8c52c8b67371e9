/**
 * The operator's analytics tools end to end: a realistic data set goes in through the gateway
 * (beacons, admin ingest, recommendation reports, stream rows), and every tool's API answer is
 * checked against values computed here from the seed. Another account's key sees none of it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { engagementScore, engagementViewParams } from '../../src/domain/engagement.js';
import { randomId, rows, eventually } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import {
  adminHeaders,
  beaconOf,
  buildSeed,
  flatEvents,
  HOUR,
  iso,
  loadSeed,
  MIN,
  personOf,
  whoKey,
  type FlatEvent,
  type Seed,
} from '../support/analytics-seed.js';
import { cliAgainst } from '../support/cli.js';

const ACME = randomId('acme');
const BETA = randomId('beta');
const EMPTY = randomId('gamma');
/** A short half-life, so that hours of age move the ranking (the default is 7 days). */
const HALF_LIFE_DAYS = 0.5;

const t = useTestService({ accounts: [ACME, BETA, EMPTY], accountFields: { [ACME]: { engagement: { halfLifeDays: HALF_LIFE_DAYS } } } });
let seed: Seed;
const key = (account: string) => t.accounts.find((a) => a.id === account)!.adminKey;

// `any`: API answers are JSON checked field by field against the seed below.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- as said above
type Json = any;

async function get(pathAndQuery: string, account = ACME): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${t.url}${pathAndQuery}`, { headers: { authorization: `Bearer ${key(account)}` } });
  return { status: res.status, body: await res.json() };
}

async function post(pathName: string, body: unknown, account = ACME): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${t.url}${pathName}`, {
    method: 'POST',
    headers: adminHeaders(key(account)),
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const hostOf = (url?: string) => (url ? new URL(url).hostname : '');
const max = (xs: number[]) => xs.reduce((a, b) => Math.max(a, b), -Infinity);
const min = (xs: number[]) => xs.reduce((a, b) => Math.min(a, b), Infinity);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function groupBy<T>(xs: T[], k: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) m.set(k(x), [...(m.get(k(x)) ?? []), x]);
  return m;
}

/** `{kind, personId, visitorIds}` of a who-key, as the API shapes it. */
function whoOf(key: string, events: FlatEvent[]) {
  const [kind, id] = key.split(':') as ['person' | 'visitor', string];
  return { kind, personId: kind === 'person' ? id : null, visitorIds: [...new Set(events.map((e) => e.visitorId))].sort() };
}

beforeAll(async () => {
  seed = buildSeed(ACME, BETA, Date.now());
  await loadSeed(t, seed);
});

describe('recent-by-person', () => {
  function expected(account: string, person: string) {
    const sessions = seed.sessions.filter((s) => s.account === account && s.visitorId && personOf(seed, account, s.visitorId) === person);
    return sessions
      .map((s) => {
        const ts = s.events.map((e) => e.ts);
        return {
          sessionId: s.sessionId,
          visitorId: s.visitorId,
          firstSeen: iso(min(ts)),
          lastSeen: iso(max(ts)),
          events: s.events.length,
          pageViews: s.events.filter((e) => e.type === 'pageview').length,
          clicks: s.events.filter((e) => e.type === 'click').length,
          maxDepth: max(s.events.map((e) => e.depth ?? 0)),
          dwellMs: sum(s.events.map((e) => e.dwellMs ?? 0)),
          entryPath: s.events[0]!.path,
          exitPath: s.events.at(-1)!.path,
          referrerHost: hostOf(s.events[0]!.referrer),
        };
      })
      .sort((a, b) => b.lastSeen.localeCompare(a.lastSeen));
  }

  it.each(['p-alice', 'p-bob', 'p-carol', 'p-erin'])('%s: every session on every device, newest first', async (person) => {
    const want = expected(ACME, person);
    expect(want.length).toBeGreaterThan(0);
    const { status, body } = await get(`/api/persons/${person}/sessions`);
    expect(status).toBe(200);
    expect(body.personId).toBe(person);
    expect(
      body.sessions.map((s: Json) => ({
        ...s,
        durationMs: undefined,
        referrer: undefined,
        channel: undefined,
        device: undefined,
        browser: undefined,
        country: undefined,
      })),
    ).toEqual(
      want.map((w) => ({ ...w, durationMs: undefined, referrer: undefined, channel: undefined, device: undefined, browser: undefined, country: undefined })),
    );
    expect(body.visitorIds).toEqual([...new Set(want.map((w) => w.visitorId))].sort());
  });

  it('two devices of Alice are one person; Bob owns the browser once mistaken for Carol', async () => {
    const alice = (await get('/api/persons/p-alice/sessions')).body;
    expect(alice.visitorIds).toEqual(['v-alice-laptop', 'v-alice-phone']);
    expect(alice.sessions.map((s: Json) => s.sessionId)).toEqual(['s-a3', 's-a2', 's-a1']);
    expect(alice.sessions.map((s: Json) => s.device)).toEqual(['desktop', 'mobile', 'desktop']);
    expect(alice.sessions.map((s: Json) => s.channel)).toEqual(['direct', 'email', 'search']);
    expect((await get('/api/persons/p-carol/sessions')).body.sessions.map((s: Json) => s.sessionId)).toEqual(['s-c1']);
    expect((await get('/api/persons/p-bob/sessions')).body.sessions.map((s: Json) => s.sessionId)).toEqual(['s-b2', 's-b1']);
  });

  it('limit keeps the newest; an unknown person has no sessions', async () => {
    expect((await get('/api/persons/p-alice/sessions?limit=1')).body.sessions.map((s: Json) => s.sessionId)).toEqual(['s-a3']);
    expect((await get('/api/persons/p-nobody/sessions')).body.sessions).toEqual([]);
  });
});

describe('recent-by-page', () => {
  function expected(account: string, paths: string[]) {
    const events = flatEvents(seed, account).filter((e) => paths.includes(e.path));
    const groups = [...groupBy(events, (e) => whoKey(seed, account, e.visitorId))].map(([k, es]) => ({
      ...whoOf(k, es),
      firstSeen: iso(min(es.map((e) => e.ts))),
      lastSeen: iso(max(es.map((e) => e.ts))),
      views: es.filter((e) => e.type === 'pageview').length,
      maxDepth: max(es.map((e) => e.depth ?? 0)),
      dwellMs: sum(es.map((e) => e.dwellMs ?? 0)),
      paths: [...new Set(es.map((e) => e.path))].sort(),
      who: k.split(':')[1]!,
    }));
    return groups.sort((a, b) => b.lastSeen.localeCompare(a.lastSeen) || a.who.localeCompare(b.who)).map(({ who: _w, ...g }) => g);
  }

  it('by path: one row per person (all devices) or anonymous visitor, newest first', async () => {
    const { status, body } = await get('/api/pages/visitors?path=/listings/12-high-st');
    expect(status).toBe(200);
    const want = expected(ACME, ['/listings/12-high-st']);
    expect(body.visitors).toEqual(want);
    expect(body.visitors.map((v: Json) => v.personId ?? v.visitorIds[0])).toEqual(['p-alice', 'v-anon-1', 'p-erin']);
    expect(body.pages).toEqual([{ path: '/listings/12-high-st', title: '12 High St — 3 bed semi', listing: '12-high-st' }]);
  });

  it('by listing slug: every path whose page views carried it', async () => {
    const paths = [
      ...new Set(
        flatEvents(seed, ACME)
          .filter((e) => e.type === 'pageview' && e.listing === '9-park-rd')
          .map((e) => e.path),
      ),
    ];
    const { body } = await get('/api/pages/visitors?listing=9-park-rd&limit=10');
    expect(body.pages.map((p: Json) => p.path)).toEqual(paths);
    expect(body.visitors).toEqual(expected(ACME, paths));
    expect(body.visitors.map((v: Json) => v.personId ?? v.visitorIds[0])).toEqual(['p-alice', 'v-anon-3', 'p-carol']);
  });

  it('limit keeps the newest', async () => {
    const { body } = await get('/api/pages/visitors?path=/listings/12-high-st&limit=1');
    expect(body.visitors).toEqual(expected(ACME, ['/listings/12-high-st']).slice(0, 1));
  });
});

describe('engagement-score', () => {
  function expected(asOfMs: number) {
    const events = flatEvents(seed, ACME);
    const entries = [...groupBy(events, (e) => whoKey(seed, ACME, e.visitorId))].map(([k, es]) => {
      const lastSeenMs = max(es.map((e) => e.ts));
      const pageViews = es.filter((e) => e.type === 'pageview').length;
      const milestones = es.filter((e) => e.type === 'scroll' && e.depth).length;
      const dwellMs = sum(es.map((e) => e.dwellMs ?? 0));
      // The documented formula, written out again here.
      const ageDays = Math.max(0, (asOfMs - lastSeenMs) / 86_400_000);
      const recency = Math.pow(2, -ageDays / HALF_LIFE_DAYS);
      const depth = Math.log2(1 + pageViews + 0.25 * milestones);
      const dwell = Math.log2(2 + dwellMs / 1000 / 60);
      return {
        key: k,
        ...whoOf(k, es),
        lastSeen: iso(lastSeenMs),
        pageViews,
        scrollMilestones: milestones,
        dwellMs,
        sessions: new Set(es.map((e) => e.sessionId)).size,
        recency,
        depth,
        dwell,
        score: recency * depth * dwell,
      };
    });
    return entries.sort((a, b) => b.score - a.score || a.key.localeCompare(b.key));
  }

  it('ranks people (all their devices) and anonymous visitors by recency × depth × dwell, with the factors', async () => {
    const { status, body } = await get('/api/engagement?limit=50');
    expect(status).toBe(200);
    expect(body.params).toEqual({ halfLifeDays: HALF_LIFE_DAYS, milestoneWeight: 0.25, dwellUnitSeconds: 60 });
    const want = expected(body.asOfMs);
    expect(body.queue.map((e: Json) => `${e.kind}:${e.personId ?? e.visitorIds[0]}`)).toEqual(want.map((w) => w.key));
    for (const [i, w] of want.entries()) {
      const got = body.queue[i];
      expect(got).toMatchObject({
        rank: i + 1,
        kind: w.kind,
        personId: w.personId,
        visitorIds: w.visitorIds,
        lastSeen: w.lastSeen,
        pageViews: w.pageViews,
        scrollMilestones: w.scrollMilestones,
        dwellMs: w.dwellMs,
        sessions: w.sessions,
      });
      expect(got.recency).toBeCloseTo(w.recency, 9);
      expect(got.depth).toBeCloseTo(w.depth, 9);
      expect(got.dwell).toBeCloseTo(w.dwell, 9);
      expect(got.score).toBeCloseTo(w.score, 9);
    }
    expect(body.queue[0].personId).toBe('p-alice');
  });

  it('the SQL view and src/domain/engagement.ts compute the same numbers', async () => {
    const { body } = await get('/api/engagement');
    expect(body.queue.length).toBeGreaterThan(3);
    for (const e of body.queue) {
      const f = engagementScore(
        { lastSeenMs: e.lastSeenMs, pageViews: e.pageViews, scrollMilestones: e.scrollMilestones, dwellMs: e.dwellMs },
        body.asOfMs,
        body.params,
      );
      expect(e.ageDays).toBeCloseTo(f.ageDays, 9);
      expect(e.recency).toBeCloseTo(f.recency, 9);
      expect(e.depth).toBeCloseTo(f.depth, 9);
      expect(e.dwell).toBeCloseTo(f.dwell, 9);
      expect(e.score).toBeCloseTo(f.score, 9);
    }
  });

  it('the queue is the engagement_scores view ranked and cut, for every limit and include', async () => {
    // The query splits unbound visitors from bound ones for speed; Grafana reads the view.
    for (const [limit, include] of [
      [50, 'all'],
      [2, 'all'],
      [1, 'persons'],
      [50, 'persons'],
    ] as const) {
      const { body } = await get(`/api/engagement?limit=${limit}&include=${include}`);
      const view = await rows<{ kind: string; who: string; visitors: string[]; score: number }>(
        t.ch,
        `SELECT kind, who, arraySort(visitors) AS visitors, score
         FROM engagement_scores(account = {account:String}, at_ms = {at_ms:Int64}, half_life_days = {half_life_days:Float64},
           milestone_weight = {milestone_weight:Float64}, dwell_unit_s = {dwell_unit_s:Float64})
         WHERE {include:String} = 'all' OR kind = 'person'
         ORDER BY score DESC, who ASC LIMIT {limit:UInt32}`,
        { account: ACME, include, limit, ...engagementViewParams(body.params, body.asOfMs) },
      );
      expect(view.length).toBeGreaterThan(0);
      expect(body.queue.map((e: Json) => [e.kind, e.personId ?? e.visitorIds[0], e.visitorIds, e.score])).toEqual(
        view.map((r) => [r.kind, r.who, r.visitors, r.score]),
      );
    }
  });

  it('include=persons keeps known people only; limit cuts the queue', async () => {
    const all = (await get('/api/engagement')).body.queue;
    const persons = (await get('/api/engagement?include=persons')).body.queue;
    expect(persons.map((e: Json) => e.personId)).toEqual(all.filter((e: Json) => e.kind === 'person').map((e: Json) => e.personId));
    expect(persons.map((e: Json) => e.personId).sort()).toEqual(['p-alice', 'p-bob', 'p-carol', 'p-erin']);
    const two = (await get('/api/engagement?limit=2')).body.queue;
    expect(two.map((e: Json) => e.personId ?? e.visitorIds[0])).toEqual(all.slice(0, 2).map((e: Json) => e.personId ?? e.visitorIds[0]));
  });
});

describe('recommendation-ctr', () => {
  function expected(account: string, from: number, to: number) {
    const inWindow = (ts: number) => ts >= from && ts < to;
    const imp = new Map<string, Set<string>>();
    for (const r of seed.recs.filter((r) => r.account === account && inWindow(r.ts))) {
      imp.set(r.listing, (imp.get(r.listing) ?? new Set()).add(`${r.recId}|${r.sessionId ?? ''}`));
    }
    const clk = new Map<string, Set<string>>();
    for (const e of flatEvents(seed, account, true).filter((e) => e.type === 'click' && e.rec && inWindow(e.ts))) {
      clk.set(e.listing!, (clk.get(e.listing!) ?? new Set()).add(`${e.rec}|${e.sessionId}`));
    }
    const listings = [...new Set([...imp.keys(), ...clk.keys()])].map((listing) => {
      const impressions = imp.get(listing)?.size ?? 0;
      const clicks = clk.get(listing)?.size ?? 0;
      return { listing, impressions, clicks, ctr: impressions ? clicks / impressions : null };
    });
    listings.sort((a, b) => b.impressions - a.impressions || b.clicks - a.clicks || a.listing.localeCompare(b.listing));
    const impressions = sum(listings.map((l) => l.impressions));
    const clicks = sum(listings.map((l) => l.clicks));
    return { listings, overall: { impressions, clicks, ctr: impressions ? clicks / impressions : null } };
  }

  it('per listing and overall over the whole day', async () => {
    const from = seed.now - 23 * HOUR;
    const to = seed.now + MIN;
    const { status, body } = await get(`/api/ctr?from=${new Date(from).toISOString()}&to=${to}`);
    expect(status).toBe(200);
    const want = expected(ACME, from, to);
    expect(body.listings).toEqual(want.listings);
    expect(body.overall).toEqual(want.overall);
    // Hand check: 8 distinct impressions (a re-report counts once), 4 distinct clicks (a double
    // click counts once; the email link opened on an unknown browser counts).
    expect(body.overall).toEqual({ impressions: 8, clicks: 4, ctr: 0.5 });
    expect(body.listings.find((l: Json) => l.listing === '12-high-st')).toEqual({ listing: '12-high-st', impressions: 2, clicks: 1, ctr: 0.5 });
    expect(body.from).toBe(iso(from));
  });

  it('a narrower window leaves out older impressions and clicks', async () => {
    const from = seed.now - 7 * HOUR;
    const to = seed.now - 90 * MIN;
    const { body } = await get(`/api/ctr?from=${from}&to=${to}`);
    const want = expected(ACME, from, to);
    expect(body.listings).toEqual(want.listings);
    expect(body.overall).toEqual({ impressions: 4, clicks: 2, ctr: 0.5 });
  });

  it('relative windows work and default to the last 30 days', async () => {
    const { body } = await get('/api/ctr');
    expect(body.overall).toEqual(expected(ACME, seed.now - 30 * 24 * HOUR, seed.now + MIN).overall);
    expect((await get('/api/ctr?from=24h')).body.overall).toEqual(body.overall);
  });
});

describe('session-detail', () => {
  it('the full ordered timeline of one session, with its person and summary', async () => {
    const s = seed.sessions.find((x) => x.sessionId === 's-a2')!;
    const { status, body } = await get('/api/sessions/s-a2');
    expect(status).toBe(200);
    expect(body).toMatchObject({ sessionId: 's-a2', visitorId: 'v-alice-phone', personId: 'p-alice', truncated: false });
    expect(body.timeline.map((e: Json) => [e.ts, e.type, e.path, e.depth, e.dwellMs, e.label, e.listing, e.recId, e.eventId])).toEqual(
      s.events.map((e) => [iso(e.ts), e.type, e.path, e.depth ?? 0, e.dwellMs ?? 0, e.label ?? '', e.listing ?? '', e.rec ?? '', e.eventId]),
    );
    expect(body.summary).toMatchObject({
      firstSeen: iso(s.events[0]!.ts),
      lastSeen: iso(s.events.at(-1)!.ts),
      events: s.events.length,
      pageViews: 2,
      clicks: 3,
      maxDepth: 50,
      dwellMs: 40_000,
      entryPath: '/listings/12-high-st',
      exitPath: '/listings/4-mill-lane',
      referrerHost: 'mail.google.com',
      channel: 'email',
      device: 'mobile',
      browser: 'Safari',
    });
  });

  it('an anonymous session has no person; a cookie-only one has its cookie person', async () => {
    expect((await get('/api/sessions/s-n1')).body.personId).toBeNull();
    expect((await get('/api/sessions/s-e1')).body.personId).toBe('p-erin');
    expect((await get('/api/sessions/s-b1')).body.personId).toBe('p-bob');
  });

  it('limit truncates and says so; an unknown session is a 404', async () => {
    const { body } = await get('/api/sessions/s-a2?limit=3');
    expect(body.timeline).toHaveLength(3);
    expect(body.truncated).toBe(true);
    const missing = await get('/api/sessions/s-nope');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe('not-found');
  });
});

describe('briefing', () => {
  function expected(account: string, since: number, pages = 10) {
    const events = flatEvents(seed, account).filter((e) => e.ts >= since);
    return [...groupBy(events, (e) => whoKey(seed, account, e.visitorId))]
      .map(([k, es]) => {
        const perPath = [...groupBy(es, (e) => e.path)].map(([p, pes]) => ({
          path: p,
          title: pes.find((e) => e.title)?.title ?? '',
          listing: pes.find((e) => e.listing && e.type === 'pageview')?.listing ?? '',
          views: pes.filter((e) => e.type === 'pageview').length,
          lastSeen: iso(max(pes.map((e) => e.ts))),
        }));
        perPath.sort((a, b) => b.lastSeen.localeCompare(a.lastSeen) || a.path.localeCompare(b.path));
        return {
          ...whoOf(k, es),
          firstSeen: iso(min(es.map((e) => e.ts))),
          lastSeen: iso(max(es.map((e) => e.ts))),
          sessions: new Set(es.map((e) => e.sessionId)).size,
          events: es.length,
          pageViews: es.filter((e) => e.type === 'pageview').length,
          dwellMs: sum(es.map((e) => e.dwellMs ?? 0)),
          pageCount: perPath.length,
          pages: perPath.slice(0, pages),
          who: k.split(':')[1]!,
        };
      })
      .sort((a, b) => b.lastSeen.localeCompare(a.lastSeen) || a.who.localeCompare(b.who))
      .map(({ who: _w, ...x }) => x);
  }

  it('who was on the site since a time, grouped by person or visitor, with what they looked at', async () => {
    const since = seed.now - 4 * HOUR;
    const { status, body } = await get(`/api/briefing?since=${new Date(since).toISOString()}`);
    expect(status).toBe(200);
    const want = expected(ACME, since);
    expect(body.people).toEqual(want);
    expect(body.people.map((p: Json) => p.personId ?? p.visitorIds[0])).toEqual(['p-alice', 'v-anon-2', 'p-bob', 'v-anon-1']);
    expect(body.people[0].visitorIds).toEqual(['v-alice-laptop', 'v-alice-phone']);
  });

  it('pages per person are capped, newest first, with the full count beside', async () => {
    const since = seed.now - 23 * HOUR;
    const { body } = await get(`/api/briefing?since=${since}&pages=1&limit=3`);
    expect(body.people).toEqual(expected(ACME, since, 1).slice(0, 3));
    expect(body.people[0].pageCount).toBeGreaterThan(1);
  });
});

describe('another account', () => {
  it('sees only its own rows, even for the same person id and page', async () => {
    const person = (await get('/api/persons/p-alice/sessions', BETA)).body;
    expect(person.sessions.map((s: Json) => s.sessionId)).toEqual(['s-x1']);
    const page = (await get('/api/pages/visitors?path=/listings/12-high-st', BETA)).body;
    expect(page.visitors.map((v: Json) => v.visitorIds)).toEqual([['v-beta-1']]);
    const queue = (await get('/api/engagement', BETA)).body.queue;
    expect(queue.map((e: Json) => e.personId)).toEqual(['p-alice']);
    expect(queue[0].visitorIds).toEqual(['v-beta-1']);
    const ctr = (await get(`/api/ctr?from=${seed.now - 23 * HOUR}`, BETA)).body;
    expect(ctr.overall).toEqual({ impressions: 2, clicks: 1, ctr: 0.5 });
    expect((await get('/api/sessions/s-a2', BETA)).status).toBe(404);
    const brief = (await get(`/api/briefing?since=${seed.now - 23 * HOUR}`, BETA)).body;
    expect(brief.people.map((p: Json) => p.visitorIds)).toEqual([['v-beta-1']]);
  });

  it('an account without data gets empty answers', async () => {
    expect((await get('/api/persons/p-alice/sessions', EMPTY)).body.sessions).toEqual([]);
    expect((await get('/api/pages/visitors?listing=12-high-st', EMPTY)).body).toMatchObject({ pages: [], visitors: [] });
    expect((await get('/api/engagement', EMPTY)).body.queue).toEqual([]);
    expect((await get('/api/ctr', EMPTY)).body).toMatchObject({ listings: [], overall: { impressions: 0, clicks: 0, ctr: null } });
    expect((await get('/api/briefing?since=2d', EMPTY)).body.people).toEqual([]);
  });

  it('naming another account is refused; no key or a wrong key is a 401', async () => {
    expect((await get(`/api/engagement?account=${ACME}`, BETA)).status).toBe(403);
    expect((await fetch(`${t.url}/api/engagement`)).status).toBe(401);
    expect((await fetch(`${t.url}/api/sessions/s-a2`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    expect((await post('/api/events', { events: [{ account: ACME, type: 'pageview', sessionId: 's', visitorId: 'v', path: '/' }] }, BETA)).status).toBe(403);
  });
});

describe('bad input', () => {
  it.each([
    ['/api/engagement?limit=0', /limit/],
    ['/api/engagement?limit=abc', /limit/],
    ['/api/engagement?include=robots', /include/],
    ['/api/pages/visitors', /exactly one of path or listing/],
    ['/api/pages/visitors?path=/a&listing=b', /exactly one of path or listing/],
    ['/api/pages/visitors?path=no-slash', /path must start with \//],
    ['/api/ctr?from=2026-01-02&to=2026-01-01', /from must be before to/],
    ['/api/ctr?from=last%20week', /from: expected an ISO 8601 time/],
    ['/api/briefing?since=yesterday', /since/],
    ["/api/sessions/s'%20OR%201=1", /session id/],
    ['/api/persons/%E0%A4%A/sessions', /percent-encoding/],
  ])('%s → 400 naming the problem', async (url, message) => {
    const { status, body } = await get(url);
    expect(status).toBe(400);
    expect(body.error).toBe('invalid');
    expect(body.message).toMatch(message);
  });

  it('bad bodies are 400s with the field named, and each is logged', async () => {
    const missing = await post('/api/recommendations', {
      recommendations: [
        { listing: 'a', recId: 'r', sessionId: 's' },
        { listing: 'b', sessionId: 's' },
      ],
    });
    expect(missing.status).toBe(400);
    expect(missing.body.message).toMatch(/recommendations\.1\.recId/);
    expect((await post('/api/recommendations', { listing: 'a', recId: 'r' })).body.message).toMatch(/at least one of sessionId, personId, visitorId/);
    expect((await post('/api/recommendations', { listing: 'a', recId: 'r', sessionId: 's', ts: Date.now() + 3 * 86_400_000 })).status).toBe(400);
    expect((await post('/api/recommendations', '{nope')).body.error).toBe('invalid-json');
    expect((await post('/api/events', { events: [{ type: 'pageview', sessionId: 's', visitorId: 'v' }] })).body.message).toMatch(/path/);
    const lines = t.messages().filter((m) => m.startsWith('[api-error]'));
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/reason=invalid status=400 route=record-recommendation/),
        expect.stringMatching(/reason=invalid-json status=400 route=record-recommendation/),
      ]),
    );
  });
});

describe('writes and replays', () => {
  it('a replayed ingest batch and a re-reported recommendation never double-count', async () => {
    const s = seed.sessions.find((x) => x.sessionId === 's-n3')!;
    const replay = await post('/api/events', { events: s.events.map((e) => beaconOf(s, e)) });
    expect(replay.body).toEqual({ accepted: 0, duplicates: s.events.length });
    const rec = seed.recs.find((r) => r.recId === 'r-300')!;
    expect((await post('/api/recommendations', { listing: rec.listing, recId: rec.recId, sessionId: rec.sessionId, ts: rec.ts })).status).toBe(202);
    // Flushed once the account's stream is empty (entries are deleted after the insert).
    await eventually(async () => (await t.service.ctx!.rows.length(ACME)) === 0);
    const ctr = (await get(`/api/ctr?from=${seed.now - 23 * HOUR}&to=${seed.now + MIN}`)).body;
    expect(ctr.overall).toEqual({ impressions: 8, clicks: 4, ctr: 0.5 });
    expect((await get('/api/sessions/s-n3')).body.timeline).toHaveLength(s.events.length);
  });

  it('pages keep titles and listings, and hold no visitor, person or session ids', async () => {
    const cols = await rows<{ name: string }>(t.ch, `SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'pages' ORDER BY position`);
    expect(cols.map((c) => c.name)).toEqual(['account_id', 'path', 'title', 'listing', 'first_seen', 'last_seen']);
    const pages = await rows<{ path: string; title: string; listing: string }>(
      t.ch,
      'SELECT path, argMaxMerge(title) AS title, max(listing) AS listing FROM pages WHERE account_id = {a:String} GROUP BY path ORDER BY path',
      { a: ACME },
    );
    const seen = [
      ...new Set(
        flatEvents(seed, ACME)
          .filter((e) => e.type === 'pageview')
          .map((e) => e.path),
      ),
    ].sort();
    expect(pages.map((p) => p.path)).toEqual(seen);
    expect(pages.find((p) => p.path === '/listings/4-mill-lane')).toEqual({
      path: '/listings/4-mill-lane',
      title: '4 Mill Lane — 2 bed cottage',
      listing: '4-mill-lane',
    });
  });
});

describe('visitor CLI', () => {
  const cli = (...argv: string[]) => cliAgainst(t.url, key(ACME), argv);

  it('prints tables for people and the API answer with --json', async () => {
    const json = await cli('recent-by-person', 'p-alice', '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toEqual((await get('/api/persons/p-alice/sessions')).body);
    const table = await cli('recent-by-person', 'p-alice');
    expect(table.out.split('\n')[0]).toMatch(/^last seen\s+session\s+visitor\s+device\s+pages/);
    expect(table.out).toMatch(/s-a3\s+v-alice-laptop\s+desktop/);
    expect(table.out).toContain('3 session(s) of person p-alice on 2 device(s)');

    const page = await cli('recent-by-page', '--listing', '9-park-rd', '--json');
    expect(JSON.parse(page.out)).toEqual((await get('/api/pages/visitors?listing=9-park-rd')).body);
    expect((await cli('recent-by-page', '--path', '/listings/12-high-st')).out).toMatch(/person p-alice\s+2\s+/);

    const queue = await cli('engagement-score', '--persons', '--limit', '3');
    expect(queue.out.split('\n')[2]).toMatch(/^1\s+person p-alice\s+\d+\.\d{3}/);
    expect(queue.out).toContain('score = recency × depth × dwell');

    const ctr = await cli('recommendation-ctr', '--from', '23h', '--json');
    expect(JSON.parse(ctr.out).overall).toEqual({ impressions: 8, clicks: 4, ctr: 0.5 });
    expect((await cli('recommendation-ctr', '--from', '23h')).out).toMatch(/\(all\)\s+8\s+4\s+50\.0%/);

    const detail = await cli('session-detail', 's-a2');
    expect(detail.out).toMatch(/click\s+\/listings\/12-high-st\s+label=floorplan/);
    expect(detail.out).toContain('session s-a2: visitor v-alice-phone, person p-alice');
    expect(JSON.parse((await cli('session-detail', 's-a2', '--json')).out).timeline).toHaveLength(8);

    const brief = await cli('briefing', '--since', '4h');
    expect(brief.out).toMatch(/person p-alice\s+2\s+/);
    expect(brief.out).toContain('9 Park Rd — 4 bed detached');
  });

  it('reports API errors and usage errors with their exit codes', async () => {
    const bad = await cli('engagement-score', '--limit', '0');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--limit must be a positive integer/);
    const api = await cli('recommendation-ctr', '--from', 'last-week');
    expect(api.code).toBe(1);
    expect(api.err).toMatch(/HTTP 400: from: expected an ISO 8601 time/);
    expect((await cli('session-detail')).code).toBe(2);
    expect((await cli('session-detail', 's-nope')).err).toMatch(/HTTP 404/);
  });

  it('event-ingest and record-recommendation write through the API', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'visitor-cli-'));
    try {
      const now = Date.now();
      const events = Array.from({ length: 25 }, (_, i) => ({
        type: i === 0 ? 'pageview' : 'heartbeat',
        sessionId: 's-cli',
        visitorId: 'v-cli',
        path: '/cli',
        ts: now - 60_000 + i * 1000,
      }));
      const file = path.join(dir, 'events.ndjson');
      await writeFile(file, events.map((e) => JSON.stringify(e)).join('\n'));
      const ingest = await cli('event-ingest', file, '--json');
      expect(JSON.parse(ingest.out)).toEqual({ sent: 25, accepted: 25, duplicates: 0, requests: 2 });
      const rec = await cli('record-recommendation', '--listing', '12-high-st', '--rec', 'r-cli', '--session', 's-cli', '--json');
      expect(JSON.parse(rec.out)).toEqual({ accepted: 1 });
      await eventually(async () => (await get('/api/sessions/s-cli')).body.timeline?.length === 25);
      await eventually(async () => (await t.service.ctx!.rows.length(ACME)) === 0);
      const ctr = (await get(`/api/ctr?from=${seed.now - 23 * HOUR}&to=${Date.now() + MIN}`)).body;
      expect(ctr.overall).toEqual({ impressions: 9, clicks: 4, ctr: 4 / 9 });
      expect(ctr.listings.find((l: Json) => l.listing === '12-high-st')).toEqual({ listing: '12-high-st', impressions: 3, clicks: 1, ctr: 1 / 3 });
      const detail = (await get('/api/sessions/s-cli')).body;
      expect(detail.summary).toMatchObject({ events: 25, pageViews: 1, entryPath: '/cli' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
