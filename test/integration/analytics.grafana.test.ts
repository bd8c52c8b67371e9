/**
 * Every Grafana panel's SQL, taken from the dashboard JSON in dashboards/, with Grafana's macros
 * and variables substituted as the ClickHouse data source plugin does, runs against the real
 * schema (all migrations, every capability's tables) holding seeded data, and returns rows.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR } from '../../src/adapters/clickhouse/migrate.js';
import { TABLES } from '../../src/adapters/clickhouse/tables.js';
import { eventually, randomId, removeTestData, rows, startTestService, type TestService } from '../support/services.js';
import { buildSeed, HOUR, loadSeed, MIN } from '../support/analytics-seed.js';

const DASHBOARDS = path.resolve(MIGRATIONS_DIR, '../dashboards');

interface Dashboard {
  uid: string;
  templating: { list: { name: string; type: string; query: string }[] };
  panels: { title: string; targets: { rawSql: string }[] }[];
}

const dashboards = readdirSync(DASHBOARDS)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: f, json: JSON.parse(readFileSync(path.join(DASHBOARDS, f), 'utf8')) as Dashboard }));

const panels = dashboards.flatMap((d) => d.json.panels.flatMap((p) => p.targets.map((t) => ({ name: `${d.file} › ${p.title}`, dashboard: d.json, sql: t.rawSql }))));

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
    .replace(/\$__timeFilter_ms\(([^)]+)\)/g, (_m, c: string) => `${c} >= fromUnixTimestamp64Milli(${r.fromMs}) AND ${c} <= fromUnixTimestamp64Milli(${r.toMs})`)
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_m, c: string) => `${c} >= toDateTime(${sec(r.fromMs)}) AND ${c} <= toDateTime(${sec(r.toMs)})`)
    .replace(/\$__dateFilter\(([^)]+)\)/g, (_m, c: string) => `${c} >= toDate('${day(r.fromMs)}') AND ${c} <= toDate('${day(r.toMs)}')`)
    .replace(/\$__(?:dateTimeFilter|dt)\(([^,]+),\s*([^)]+)\)/g, (_m, d: string, c: string) =>
      `(${d} >= toDate('${day(r.fromMs)}') AND ${d} <= toDate('${day(r.toMs)}')) AND (${c} >= toDateTime(${sec(r.fromMs)}) AND ${c} <= toDateTime(${sec(r.toMs)}))`)
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
let t: TestService;
let range: GrafanaRange;

beforeAll(async () => {
  t = await startTestService({ accounts: [ACME, BETA] });
  const seed = buildSeed(ACME, BETA, Date.now());
  await loadSeed(t, seed);
  // Concurrency samples as the presence sweeper records them, one a minute over the last hour.
  const samples = Array.from({ length: 60 }, (_, i) => {
    const at = Math.floor((seed.now - (60 - i) * MIN) / MIN) * MIN;
    const online = 3 + (i % 7);
    return {
      table: TABLES.presenceSamples,
      row: { account_id: ACME, ts: new Date(at).toISOString().slice(0, 19).replace('T', ' '), online, authenticated: 1 + (i % 3), anonymous: online - 1 - (i % 3), peak: online + 2, cross_segment: i % 2 },
    };
  });
  await t.service.ctx!.rows.append(ACME, samples);
  range = {
    fromMs: seed.now - 24 * HOUR,
    toMs: seed.now + 5 * MIN,
    intervalS: 300,
    vars: { account: ACME },
  };
  await eventually(async () => (await t.service.ctx!.rows.length(ACME)) === 0);
  for (const d of dashboards) for (const v of d.json.templating.list) if (v.type !== 'query') range.vars[v.name] = v.query;
});

afterAll(async () => {
  if (!t) return;
  await t.stop();
  await removeTestData(t);
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

  it.each(panels.map((p) => [p.name, p] as const))('%s runs against the real schema and returns rows', async (_name, p) => {
    const sql = substituteGrafana(p.sql, range);
    expect(sql).not.toContain('$');
    const out = await rows<Record<string, unknown>>(t.ch, sql);
    expect(out.length).toBeGreaterThan(0);
  });

  it('a panel shows only the chosen account', async () => {
    const traffic = panels.find((p) => p.name.endsWith('Top pages'))!;
    const acme = await rows<{ path: string; views: number }>(t.ch, substituteGrafana(traffic.sql, range));
    const beta = await rows<{ path: string; views: number }>(t.ch, substituteGrafana(traffic.sql, { ...range, vars: { ...range.vars, account: BETA } }));
    expect(beta.map((r) => [r.path, Number(r.views)])).toEqual([['/listings/12-high-st', 1]]);
    expect(acme.length).toBeGreaterThan(beta.length);
  });
});
