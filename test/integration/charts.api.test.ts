/**
 * The chart series of the operator page against the running service: admin-key auth, validated
 * query strings, every bucket present, counts as seeded through the real ingest path, and one
 * account never seeing another's data.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { eventually, randomId, rows } from '../support/services.js';
import { useTestService } from '../support/fixture.js';

const HOUR = 3_600_000;

const acct = randomId('acct');
const other = randomId('acct');
const t = useTestService({ accounts: [acct, other] });
/** Three whole hours ago, ten minutes into the hour: clear of bucket edges. */
let base: number;

async function admin(path: string, key = t.account.adminKey, init: RequestInit = {}): Promise<Response> {
  return fetch(`${t.url}${path}`, { ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });
}

async function json<T>(path: string, key?: string): Promise<T> {
  const res = await admin(path, key);
  expect(res.status, `${path}: ${await res.clone().text()}`).toBe(200);
  return (await res.json()) as T;
}

function ev(type: string, ts: number, visitorId: string, path: string, extra: Record<string, unknown> = {}) {
  return { type, ts, visitorId, sessionId: `s-${visitorId}`, path, eventId: crypto.randomUUID(), ...extra };
}

beforeAll(async () => {
  base = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR + 10 * 60_000;
  const events = [
    // hour 0: 3 page views of / by two visitors, and a heartbeat of a third (a visitor, not a view)
    ev('pageview', base, 'v1', '/', { title: 'Home' }),
    ev('pageview', base + 1000, 'v2', '/', { title: 'Home' }),
    ev('pageview', base + 2000, 'v1', '/', { title: 'Home' }),
    ev('heartbeat', base + 3000, 'v3', '/'),
    // hour 1: 2 page views of a listing by one visitor
    ev('pageview', base + HOUR, 'v3', '/listings/a', { title: 'Listing A' }),
    ev('pageview', base + HOUR + 1000, 'v3', '/listings/a', { title: 'Listing A' }),
    // hour 2: a click on a recommendation
    ev('click', base + 2 * HOUR, 'v1', '/listings/a', { label: 'recommendation', listing: 'a', rec: 'r1', sessionId: 's-rec' }),
  ];
  expect((await admin('/api/events', t.account.adminKey, { method: 'POST', body: JSON.stringify({ events }) })).status).toBe(200);
  const shown = ['a', 'b', 'c', 'd'].map((listing) => ({ listing, recId: 'r1', sessionId: 's-rec', ts: base + 2 * HOUR - 60_000 }));
  expect((await admin('/api/recommendations', t.account.adminKey, { method: 'POST', body: JSON.stringify({ recommendations: shown }) })).status).toBe(202);
  // The other account: a page view that must never show in the first one's series.
  const foreign = [ev('pageview', base, 'w1', '/', { title: 'Elsewhere' })];
  expect((await admin('/api/events', t.accounts[1]!.adminKey, { method: 'POST', body: JSON.stringify({ events: foreign }) })).status).toBe(200);
  // Presence samples as the sweeper writes them, for minutes in the past.
  const minute = Math.floor(Date.now() / 60_000) * 60_000;
  const samples = [5, 4, 3].map((online, i) => ({
    account_id: acct,
    ts: new Date(minute - (10 - i) * 60_000).toISOString().slice(0, 19).replace('T', ' '),
    online,
    authenticated: 1,
    anonymous: online - 1,
    peak: online + 1,
    cross_segment: 0,
  }));
  await t.ch.insert({ table: 'presence_samples', values: samples, format: 'JSONEachRow' });
  await eventually(async () => {
    const r = await rows<{ n: number }>(t.ch, `SELECT count() AS n FROM events WHERE account_id IN ({a:String}, {b:String})`, { a: acct, b: other });
    return Number(r[0]?.n) === events.length + foreign.length;
  }, 20_000);
  await eventually(async () => (await rows(t.ch, `SELECT 1 FROM recommendations WHERE account_id = {a:String}`, { a: acct })).length === 4, 20_000);
});

interface Traffic {
  bucket: string;
  tz: string;
  points: { t: number; pageViews: number; visitors: number }[];
}

describe('GET /api/timeseries', () => {
  it('gives page views and visitors for every hour of the window, zeros included', async () => {
    const from = new Date(base - 2 * HOUR).toISOString();
    const to = new Date(base + 3 * HOUR).toISOString();
    const s = await json<Traffic>(`/api/timeseries?bucket=hour&from=${from}&to=${to}`);
    const start = base - 10 * 60_000;
    expect(s.points.map((p) => p.t)).toEqual([-2, -1, 0, 1, 2, 3].map((k) => start + k * HOUR));
    expect(s.points.map((p) => p.pageViews)).toEqual([0, 0, 3, 2, 0, 0]);
    expect(s.points.map((p) => p.visitors)).toEqual([0, 0, 3, 1, 1, 0]);
  });

  it('buckets by day in the asked time zone', async () => {
    const s = await json<Traffic>(`/api/timeseries?bucket=day&from=3d&tz=${encodeURIComponent('Pacific/Kiritimati')}`);
    expect(s.tz).toBe('Pacific/Kiritimati');
    // Kiritimati is UTC+14: its midnights fall at 10:00 UTC.
    for (const p of s.points) expect(new Date(p.t).getUTCHours()).toBe(10);
    expect(s.points.reduce((n, p) => n + p.pageViews, 0)).toBe(5);
    expect(s.points.length).toBeGreaterThanOrEqual(3);
  });

  it('refuses a bad bucket, an unknown time zone, a reversed or too long window, and no key', async () => {
    for (const q of ['bucket=week', 'tz=Mars%2FOlympus', 'tz=%27%3BDROP', 'from=1h&to=2h', 'bucket=hour&from=40d']) {
      const res = await admin(`/api/timeseries?${q}`);
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('invalid');
    }
    expect((await fetch(`${t.url}/api/timeseries`)).status).toBe(401);
  });
});

describe('GET /api/top-pages', () => {
  it('ranks paths by page views in the window, with viewers and title, for this account only', async () => {
    const s = await json<{ pages: { path: string; title: string; pageViews: number; visitors: number }[] }>('/api/top-pages?from=24h');
    expect(s.pages).toEqual([
      { path: '/', title: 'Home', pageViews: 3, visitors: 2 },
      { path: '/listings/a', title: 'Listing A', pageViews: 2, visitors: 1 },
    ]);
    const theirs = await json<{ pages: { path: string; title: string }[] }>('/api/top-pages?from=24h', t.accounts[1]!.adminKey);
    expect(theirs.pages).toEqual([{ path: '/', title: 'Elsewhere', pageViews: 1, visitors: 1 }]);
    expect((await admin('/api/top-pages?limit=0')).status).toBe(400);
  });
});

describe('GET /api/ctr/series', () => {
  it('gives impressions, clicks and CTR per bucket, null where nothing was shown', async () => {
    const from = new Date(base).toISOString();
    const to = new Date(base + 4 * HOUR).toISOString();
    const s = await json<{ points: { t: number; impressions: number; clicks: number; ctr: number | null }[] }>(
      `/api/ctr/series?bucket=hour&from=${from}&to=${to}`,
    );
    expect(s.points.map((p) => [p.impressions, p.clicks, p.ctr])).toEqual([
      [0, 0, null],
      [0, 0, null],
      [4, 1, 0.25],
      [0, 0, null],
      // The last hour, of which the window holds ten minutes.
      [0, 0, null],
    ]);
  });
});

describe('GET /api/online/series', () => {
  it('gives the stored per-minute samples with the sample interval', async () => {
    const s = await json<{ sampleMs: number; points: { online: number; peak: number }[] }>('/api/online/series?from=1h');
    expect(s.sampleMs).toBe(t.config.PRESENCE_SAMPLE_MS);
    // The sweeper adds samples of its own (online 0) for the minutes since the start.
    expect(s.points.filter((p) => p.online > 0).map((p) => [p.online, p.peak])).toEqual([
      [5, 6],
      [4, 5],
      [3, 4],
    ]);
    const theirs = await json<{ points: { online: number }[] }>('/api/online/series?from=1h', t.accounts[1]!.adminKey);
    expect(theirs.points.every((p) => p.online === 0)).toBe(true);
    expect((await admin('/api/online/series?from=30d')).status).toBe(400);
  });
});
