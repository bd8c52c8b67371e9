/**
 * Every Grafana panel's SQL, taken from the dashboard JSON in dashboards/, with Grafana's macros
 * and variables substituted as the ClickHouse data source plugin does, runs against the real
 * schema (all migrations, every capability's tables) holding seeded data, and answers the
 * figures computed here from the seed itself (or, for the engagement queue, the admin tool's
 * answer, which analytics.tools.test.ts holds to the seed).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR } from '../../src/adapters/clickhouse/migrate.js';
import { TABLES } from '../../src/adapters/clickhouse/tables.js';
import { channelOf, deviceClass, hostOf, uaFamily } from '../../src/domain/enrich.js';
import { eventually, randomId, rows } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { adminHeaders, buildSeed, flatEvents, HOUR, loadSeed, MIN, type Seed } from '../support/analytics-seed.js';

const DASHBOARDS = path.resolve(MIGRATIONS_DIR, '../dashboards');

interface Dashboard {
  uid: string;
  templating: { list: { name: string; type: string; query: string }[] };
  panels: { title: string; targets: { rawSql: string }[] }[];
}

const dashboards = readdirSync(DASHBOARDS)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: f, json: JSON.parse(readFileSync(path.join(DASHBOARDS, f), 'utf8')) as Dashboard }));

const panels = dashboards.flatMap((d) =>
  d.json.panels.flatMap((p) => p.targets.map((t) => ({ name: `${d.file} › ${p.title}`, dashboard: d.json, sql: t.rawSql }))),
);

interface GrafanaRange {
  fromMs: number;
  toMs: number;
  intervalS: number;
  vars: Record<string, string>;
}

const sec = (ms: number) => Math.floor(ms / 1000);
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * Grafana's side of a panel query: the ClickHouse plugin's macros (pkg/macros/macros.go of
 * grafana/clickhouse-datasource), then template variables (`${name}`, `${name:singlequote}`,
 * `$name`, and the global `${__from}` / `${__to}` in epoch ms).
 */
function substituteGrafana(sql: string, r: GrafanaRange): string {
  let out = sql
    .replace(
      /\$__timeFilter_ms\(([^)]+)\)/g,
      (_m, c: string) => `${c} >= fromUnixTimestamp64Milli(${r.fromMs}) AND ${c} <= fromUnixTimestamp64Milli(${r.toMs})`,
    )
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_m, c: string) => `${c} >= toDateTime(${sec(r.fromMs)}) AND ${c} <= toDateTime(${sec(r.toMs)})`)
    .replace(/\$__dateFilter\(([^)]+)\)/g, (_m, c: string) => `${c} >= toDate('${day(r.fromMs)}') AND ${c} <= toDate('${day(r.toMs)}')`)
    .replace(
      /\$__(?:dateTimeFilter|dt)\(([^,]+),\s*([^)]+)\)/g,
      (_m, d: string, c: string) =>
        `(${d} >= toDate('${day(r.fromMs)}') AND ${d} <= toDate('${day(r.toMs)}')) AND (${c} >= toDateTime(${sec(r.fromMs)}) AND ${c} <= toDateTime(${sec(r.toMs)}))`,
    )
    .replace(/\$__timeInterval_ms\(([^)]+)\)/g, (_m, c: string) => `toStartOfInterval(toDateTime64(${c}, 3), INTERVAL ${r.intervalS * 1000} millisecond)`)
    .replace(/\$__timeInterval\(([^)]+)\)/g, (_m, c: string) => `toStartOfInterval(toDateTime(${c}), INTERVAL ${r.intervalS} second)`)
    .replaceAll('$__fromTime_ms', `fromUnixTimestamp64Milli(${r.fromMs})`)
    .replaceAll('$__toTime_ms', `fromUnixTimestamp64Milli(${r.toMs})`)
    .replaceAll('$__fromTime', `toDateTime(${sec(r.fromMs)})`)
    .replaceAll('$__toTime', `toDateTime(${sec(r.toMs)})`)
    .replaceAll('$__interval_s', String(r.intervalS));
  const vars: Record<string, string> = { __from: String(r.fromMs), __to: String(r.toMs), ...r.vars };
  out = out.replace(/\$\{(\w+)(?::(\w+))?\}|\$(\w+)/g, (m, a: string | undefined, fmt: string | undefined, b: string | undefined) => {
    const name = (a ?? b)!;
    const v = vars[name];
    if (v === undefined) throw new Error(`unknown Grafana variable ${m}`);
    return fmt === 'singlequote' ? quote(v) : v;
  });
  return out;
}

const ACME = randomId('acme');
const BETA = randomId('beta');
const t = useTestService({ accounts: [ACME, BETA] });
let range: GrafanaRange;
let seed: Seed;
let samples: { at: number; online: number; authenticated: number; anonymous: number; peak: number }[];

beforeAll(async () => {
  // The concurrency panels must show exactly the samples written below: the sweeper's own
  // (of an empty site) are stopped and cleared first.
  await t.service.sweeper!.stop();
  await eventually(async () => (await t.service.ctx!.rows.length(ACME)) === 0);
  for (const table of [TABLES.presenceSamples, TABLES.presencePeaks]) await t.ch.command({ query: `TRUNCATE TABLE ${table}` });
  seed = buildSeed(ACME, BETA, Date.now());
  await loadSeed(t, seed);
  // Concurrency samples as the presence sweeper records them, one a minute over the last hour.
  samples = Array.from({ length: 60 }, (_, i) => {
    const online = 3 + (i % 7);
    return { at: Math.floor((seed.now - (60 - i) * MIN) / MIN) * MIN, online, authenticated: 1 + (i % 3), anonymous: online - 1 - (i % 3), peak: online + 2 };
  });
  await t.service.ctx!.rows.append(
    ACME,
    samples.map(({ at, ...s }, i) => ({
      table: TABLES.presenceSamples,
      row: { account_id: ACME, ts: new Date(at).toISOString().slice(0, 19).replace('T', ' '), ...s, cross_segment: i % 2 },
    })),
  );
  range = {
    fromMs: seed.now - 24 * HOUR,
    toMs: seed.now + 5 * MIN,
    intervalS: 300,
    vars: { account: ACME },
  };
  await eventually(async () => (await t.service.ctx!.rows.length(ACME)) === 0);
  for (const d of dashboards) for (const v of d.json.templating.list) if (v.type !== 'query') range.vars[v.name] = v.query;
});

describe('Grafana macro substitution', () => {
  it('expands macros and variables as the plugin does', () => {
    const r = { fromMs: 1_700_000_000_123, toMs: 1_700_003_600_456, intervalS: 60, vars: { account: "o'hara" } };
    expect(substituteGrafana('WHERE $__timeFilter(ts) AND account_id = ${account:singlequote} AND at < ${__to}', r)).toBe(
      "WHERE ts >= toDateTime(1700000000) AND ts <= toDateTime(1700003600) AND account_id = 'o\\'hara' AND at < 1700003600456",
    );
    expect(substituteGrafana('$__timeInterval(ts) $__interval_s $__fromTime_ms $__dateFilter(d)', r)).toBe(
      "toStartOfInterval(toDateTime(ts), INTERVAL 60 second) 60 fromUnixTimestamp64Milli(1700000000123) d >= toDate('2023-11-14') AND d <= toDate('2023-11-14')",
    );
    expect(() => substituteGrafana('${nope}', r)).toThrow(/unknown Grafana variable/);
  });
});

describe('Grafana panels', () => {
  it('the account variable query lists the seeded accounts', async () => {
    for (const d of dashboards) {
      const v = d.json.templating.list.find((x) => x.name === 'account')!;
      const out = await rows<{ account_id: string }>(t.ch, v.query);
      expect(out.map((r) => r.account_id)).toEqual(expect.arrayContaining([ACME, BETA]));
    }
  });

  it.each(panels.map((p) => [p.name, p] as const))('%s answers the figures computed from the seed', async (name, p) => {
    const sql = substituteGrafana(p.sql, range);
    expect(sql).not.toContain('$');
    const title = name.split(' › ')[1]!;
    const check = PANEL_CHECKS[title];
    expect(check, `no expectation written for the panel "${title}"`).toBeDefined();
    const out = await rows<Record<string, unknown>>(t.ch, sql);
    await check!(out);
  });

  it('a panel shows only the chosen account', async () => {
    const traffic = panels.find((p) => p.name.endsWith('Top pages'))!;
    const acme = await rows<{ path: string; views: number }>(t.ch, substituteGrafana(traffic.sql, range));
    const beta = await rows<{ path: string; views: number }>(t.ch, substituteGrafana(traffic.sql, { ...range, vars: { ...range.vars, account: BETA } }));
    expect(beta.map((r) => [r.path, Number(r.views)])).toEqual([['/listings/12-high-st', 1]]);
    expect(acme.length).toBeGreaterThan(beta.length);
  });
});

// ---- What each panel must show, computed from the seed -------------------------------------

type Row = Record<string, unknown>;
const BUCKET_MS = 300_000;
const bucket = (ms: number) => Math.floor(ms / BUCKET_MS) * BUCKET_MS;
const inRange = (ms: number) => ms >= range.fromMs && ms <= range.toMs;
const numbers = (out: Row[], ...cols: string[]) => out.map((r) => cols.map((c) => (r[c] === null ? null : Number(r[c]))));
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Group `items` by `key` in key order, reducing each group with `fn`. */
function series<T, K extends number | string>(items: T[], key: (x: T) => K, fn: (group: T[]) => (number | null)[]): (number | null)[][] {
  const groups = new Map<K, T[]>();
  for (const x of items) groups.set(key(x), [...(groups.get(key(x)) ?? []), x]);
  return [...groups.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((k) => fn(groups.get(k)!));
}

const distinct = <T>(xs: T[]) => new Set(xs).size;
const acmeEvents = () => flatEvents(seed, ACME, true).filter((e) => inRange(e.ts));

/** Sessions of acme as the sessions view keeps them: first event's time, referrer and agent. */
function acmeSessions() {
  return seed.sessions
    .filter((s) => s.account === ACME && s.sessionId !== '')
    .map((s) => {
      const first = [...s.events].sort((a, b) => a.ts - b.ts)[0]!;
      const referrerHost = hostOf(first.referrer);
      return {
        firstSeen: first.ts,
        pageViews: s.events.filter((e) => e.type === 'pageview').length,
        referrer: referrerHost || '(direct)',
        channel: channelOf(referrerHost, hostOf(`https://acme.example${first.path}`), ''),
        device: deviceClass(s.ua),
        browser: uaFamily(s.ua),
      };
    })
    .filter((s) => inRange(s.firstSeen));
}

function recKeys(withListing: boolean) {
  const key = (rec: string, listing: string, session: string) => (withListing ? `${rec}|${listing}|${session}` : `${rec}|${session}`);
  const inWindow = (ts: number) => ts >= range.fromMs && ts < range.toMs;
  const impressions = seed.recs
    .filter((r) => r.account === ACME && inWindow(r.ts))
    .map((r) => ({ ts: r.ts, listing: r.listing, key: key(r.recId, r.listing, r.sessionId ?? '') }));
  const clicks = flatEvents(seed, ACME, true)
    .filter((e) => e.type === 'click' && e.rec && inWindow(e.ts))
    .map((e) => ({ ts: e.ts, listing: e.listing!, key: key(e.rec!, e.listing!, e.sessionId) }));
  return { impressions, clicks };
}

const PANEL_CHECKS: Record<string, (out: Row[]) => void | Promise<void>> = {
  'Page views and visitors': (out) => {
    const want = series(
      acmeEvents(),
      (e) => bucket(e.ts),
      (g) => [g.filter((e) => e.type === 'pageview').length, distinct(g.filter((e) => e.visitorId).map((e) => e.visitorId))],
    );
    expect(numbers(out, 'page_views', 'visitors')).toEqual(want);
  },
  'Sessions started': (out) => {
    expect(numbers(out, 'sessions')).toEqual(
      series(
        acmeSessions(),
        (s) => bucket(s.firstSeen),
        (g) => [g.length],
      ),
    );
  },
  'Live concurrency history': (out) => {
    const want = series(
      samples.filter((s) => inRange(s.at)),
      (s) => bucket(s.at),
      (g) => ['online', 'authenticated', 'anonymous', 'peak'].map((c) => Math.max(...g.map((s) => s[c as 'online']))),
    );
    expect(numbers(out, 'online', 'authenticated', 'anonymous', 'peak')).toEqual(want);
  },
  'Peak concurrent visitors': (out) => {
    const to = new Date(range.toMs);
    const monday = new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth(), to.getUTCDate() - ((to.getUTCDay() + 6) % 7)));
    const peak = (from: number) => Math.max(...samples.filter((s) => s.at >= from && s.at <= range.toMs).map((s) => s.peak));
    const want = [
      ['day', peak(Date.parse(utcDay(range.toMs)))],
      ['month', peak(Date.UTC(to.getUTCFullYear(), to.getUTCMonth(), 1))],
      ['week', peak(monday.getTime())],
    ];
    expect(out.map((r) => [r.period, Number(r.peak)])).toEqual(want);
  },
  'Daily peaks': (out) => {
    expect(numbers(out, 'daily_peak')).toEqual(
      series(
        samples,
        (s) => utcDay(s.at),
        (g) => [Math.max(...g.map((s) => s.peak))],
      ),
    );
  },
  'Top pages': (out) => {
    const views = acmeEvents().filter((e) => e.type === 'pageview');
    const want = [...new Set(views.map((e) => e.path))]
      .map((path) => {
        const on = views.filter((e) => e.path === path);
        return { path, title: on[0]!.title ?? '', listing: on[0]!.listing ?? '', views: on.length, visitors: distinct(on.map((e) => e.visitorId)) };
      })
      .sort((a, b) => b.views - a.views || b.visitors - a.visitors || a.path.localeCompare(b.path));
    expect(out.map((r) => ({ path: r.path, title: r.title, listing: r.listing, views: Number(r.views), visitors: Number(r.visitors) }))).toEqual(want);
  },
  Referrers: (out) => {
    const ss = acmeSessions();
    const keys = [...new Set(ss.map((s) => `${s.referrer}\t${s.channel}`))];
    const want = keys
      .map((k) => {
        const g = ss.filter((s) => `${s.referrer}\t${s.channel}` === k);
        return { referrer: g[0]!.referrer, channel: g[0]!.channel, sessions: g.length, page_views: g.reduce((n, s) => n + s.pageViews, 0) };
      })
      .sort((a, b) => b.sessions - a.sessions || a.referrer.localeCompare(b.referrer));
    const got = out.map((r) => ({
      referrer: String(r.referrer),
      channel: String(r.channel) as (typeof want)[number]['channel'],
      sessions: Number(r.sessions),
      page_views: Number(r.page_views),
    }));
    // Ties on (sessions, referrer) may come in any order.
    const order = (xs: typeof want) => [...xs].sort((a, b) => `${a.referrer}\t${a.channel}`.localeCompare(`${b.referrer}\t${b.channel}`));
    expect(order(got)).toEqual(order(want));
    expect(got.map((r) => r.sessions)).toEqual(want.map((r) => r.sessions));
  },
  Channels: (out) => {
    const ss = acmeSessions();
    const want = Object.fromEntries([...new Set(ss.map((s) => s.channel))].map((c) => [c, ss.filter((s) => s.channel === c).length]));
    expect(Object.fromEntries(out.map((r) => [r.channel, Number(r.sessions)]))).toEqual(want);
  },
  'Devices and browsers': (out) => {
    const ss = acmeSessions();
    const keys = [...new Set(ss.map((s) => `${s.device}/${s.browser}`))];
    const want = Object.fromEntries(keys.map((k) => [k, ss.filter((s) => `${s.device}/${s.browser}` === k).length]));
    expect(Object.fromEntries(out.map((r) => [`${r.device}/${r.browser}`, Number(r.sessions)]))).toEqual(want);
  },
  'Engagement queue': async (out) => {
    const res = await fetch(`${t.url}/api/engagement?limit=50`, { headers: adminHeaders(t.accounts.find((a) => a.id === ACME)!.adminKey) });
    const tool = ((await res.json()) as { queue: { kind: string; personId?: string; visitorIds: string[]; depth: number; dwell: number; recency: number }[] })
      .queue;
    expect(out.map((r) => [r.kind, r.who])).toEqual(tool.map((e) => [e.kind, e.personId ?? e.visitorIds[0]]));
    // Depth and dwell do not depend on the clock; recency differs only by the panel's later
    // "now" (the range end), by the same factor for everyone.
    expect(numbers(out, 'depth', 'dwell')).toEqual(tool.map((e) => [Math.round(e.depth * 1000) / 1000, Math.round(e.dwell * 1000) / 1000]));
    for (const [i, r] of out.entries()) expect(Number(r.recency)).toBeCloseTo(tool[i]!.recency, 2);
  },
  'Recommendation CTR': (out) => {
    const { impressions, clicks } = recKeys(true);
    const imp = distinct(impressions.map((x) => x.key));
    const clk = distinct(clicks.map((x) => x.key));
    // By hand: 8 distinct impressions (a re-report counts once), 4 distinct clicks.
    expect([imp, clk]).toEqual([8, 4]);
    expect(numbers(out, 'impressions', 'clicks', 'ctr')).toEqual([[imp, clk, clk / imp]]);
  },
  'Impressions and clicks': (out) => {
    const { impressions, clicks } = recKeys(true);
    const all = [...impressions.map((x) => ({ ...x, kind: 'imp' })), ...clicks.map((x) => ({ ...x, kind: 'clk' }))].filter((x) => inRange(x.ts));
    const want = series(
      all,
      (x) => bucket(x.ts),
      (g) => [distinct(g.filter((x) => x.kind === 'imp').map((x) => x.key)), distinct(g.filter((x) => x.kind === 'clk').map((x) => x.key))],
    );
    expect(numbers(out, 'impressions', 'clicks')).toEqual(want);
  },
  'CTR by listing': (out) => {
    const { impressions, clicks } = recKeys(false);
    const want = [...new Set([...impressions, ...clicks].map((x) => x.listing))]
      .map((listing) => {
        const i = distinct(impressions.filter((x) => x.listing === listing).map((x) => x.key));
        const c = distinct(clicks.filter((x) => x.listing === listing).map((x) => x.key));
        return { listing, impressions: i, clicks: c, ctr: i ? Math.round((c / i) * 10_000) / 10_000 : null };
      })
      .sort((a, b) => b.impressions - a.impressions || b.clicks - a.clicks || a.listing.localeCompare(b.listing));
    expect(
      out.map((r) => ({ listing: r.listing, impressions: Number(r.impressions), clicks: Number(r.clicks), ctr: r.ctr === null ? null : Number(r.ctr) })),
    ).toEqual(want);
  },
};
