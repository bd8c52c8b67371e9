import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { QUERIES_DIR, QUERY_NAMES, querySql } from '../../src/adapters/clickhouse/queries.js';
import { MIGRATIONS_DIR, splitStatements } from '../../src/adapters/clickhouse/migrate.js';
import { TABLES, VIEWS } from '../../src/adapters/clickhouse/tables.js';
import { ENGAGEMENT_DEFAULTS } from '../../src/domain/engagement.js';

const DASHBOARDS = path.resolve(MIGRATIONS_DIR, '../dashboards');

/** Analytics migrations: this capability's number range. */
const analyticsMigrations = readdirSync(MIGRATIONS_DIR)
  .filter((f) => /^00[34]\d_[a-z0-9_]+\.sql$/.test(f))
  .map((f) => ({ file: f, statements: splitStatements(readFileSync(path.join(MIGRATIONS_DIR, f), 'utf8')) }));

describe('query files', () => {
  it('every named query has its file and every file is named', () => {
    const files = readdirSync(QUERIES_DIR)
      .filter((f) => f.endsWith('.sql'))
      .map((f) => f.replace(/\.sql$/, ''));
    expect(files.sort()).toEqual([...QUERY_NAMES].sort());
  });

  it.each(QUERY_NAMES)('%s takes values only as typed query parameters, scoped by account', (name) => {
    const sql = splitStatements(querySql(name)).join('\n');
    expect(sql).not.toMatch(/\$\{|\$__|`/);
    expect(sql).toMatch(/account(_id)? = \{account:String\}/);
    // Every placeholder is {name:Type}.
    for (const m of sql.matchAll(/\{([^{}]*)\}/g)) expect(m[1]).toMatch(/^[a-z_]+:[A-Za-z0-9(), ']+$/);
  });

  it('the queries meant for 10M events read aggregates or the sort-key prefix, not a scan of raw events', () => {
    expect(querySql('engagement-score')).not.toMatch(/\bFROM\s+events\b/);
    expect(querySql('recommendation-ctr')).not.toMatch(/\bFROM\s+events\b/);
    expect(querySql('recent-by-person')).not.toMatch(/\bFROM\s+events\b/);
    expect(querySql('recent-by-page')).not.toMatch(/\bFROM\s+events\b/);
    expect(querySql('session-detail')).toMatch(/WHERE account_id = \{account:String\} AND session_id = \{session:String\}\s+ORDER BY ts ASC/);
  });
});

describe('analytics migrations', () => {
  const statements = analyticsMigrations.flatMap((m) => m.statements.map((s) => ({ file: m.file, sql: s })));

  it('exist, one logical change each', () => {
    expect(analyticsMigrations.length).toBeGreaterThanOrEqual(10);
    for (const m of analyticsMigrations) expect(m.statements, m.file).toHaveLength(1);
  });

  it.each(statements.map((s) => [s.file, s.sql] as const))('%s is idempotent, cluster-ready, and a view writes TO a table', (_file, sql) => {
    expect(sql).toMatch(/^CREATE (TABLE|MATERIALIZED VIEW|VIEW) IF NOT EXISTS \w+ \{on_cluster\}/);
    expect(sql).not.toMatch(/POPULATE/i);
    if (sql.startsWith('CREATE MATERIALIZED VIEW')) expect(sql).toMatch(/ TO \w+ AS\s/);
    if (sql.startsWith('CREATE TABLE')) expect(sql).toMatch(/ORDER BY \(account_id, /);
  });

  it('names every table and view it creates in tables.ts', () => {
    const known = new Set<string>([...Object.values(TABLES), ...Object.values(VIEWS)]);
    for (const { sql } of statements) {
      const name = /IF NOT EXISTS (\w+)/.exec(sql)![1]!;
      expect(known.has(name), name).toBe(true);
    }
  });

  it('pages carries no visitor, person or session id (it survives erasure)', () => {
    const pages = statements.find((s) => /CREATE TABLE IF NOT EXISTS pages\b/.test(s.sql))!.sql;
    expect(pages).not.toMatch(/visitor_id|person_id|session_id/);
  });

  it('per-visitor and per-session aggregates keep their id columns under the exact names erasure looks for', () => {
    const table = (name: string) => statements.find((s) => new RegExp(`CREATE TABLE IF NOT EXISTS ${name}\\b`).test(s.sql))!.sql;
    for (const name of ['sessions', 'visitor_engagement', 'page_visitors', 'recommendation_clicks']) {
      expect(table(name), name).toMatch(/\n\s*account_id\s+LowCardinality\(String\)/);
      expect(table(name), name).toMatch(/\n\s*visitor_id\s+String/);
      expect(table(name), name).toMatch(/\n\s*person_id\s+(String|SimpleAggregateFunction\(max, String\))/);
    }
    expect(table('sessions')).toMatch(/\n\s*session_id\s+String/);
  });
});

interface Panel {
  title: string;
  type: string;
  datasource: { type: string; uid: string };
  targets: { rawSql: string; datasource: { uid: string } }[];
}

describe('Grafana provisioning', () => {
  const dashboards = readdirSync(DASHBOARDS)
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({
      file: f,
      json: JSON.parse(readFileSync(path.join(DASHBOARDS, f), 'utf8')) as {
        uid: string;
        panels: Panel[];
        templating: { list: { name: string; type: string; query: string }[] };
      },
    }));
  const datasource = readFileSync(path.join(DASHBOARDS, 'provisioning/datasources/clickhouse.yaml'), 'utf8');

  it('the data source is the ClickHouse plugin over HTTP, with the uid the panels use', () => {
    expect(datasource).toMatch(/type: grafana-clickhouse-datasource/);
    expect(datasource).toMatch(/protocol: http/);
    expect(datasource).toMatch(/port: 8123/);
    const uid = /uid: (\S+)/.exec(datasource)![1];
    for (const d of dashboards)
      for (const p of d.json.panels) {
        expect(p.datasource.uid, `${d.file} ${p.title}`).toBe(uid);
        for (const t of p.targets) expect(t.datasource.uid).toBe(uid);
      }
    expect(readFileSync(path.join(DASHBOARDS, 'provisioning/dashboards/visitor.yaml'), 'utf8')).toMatch(/path: \/var\/lib\/grafana\/dashboards/);
  });

  it('covers traffic, concurrency and peaks, engagement, CTR, top pages and referrers', () => {
    const sql = dashboards.flatMap((d) => d.json.panels.flatMap((p) => p.targets.map((t) => t.rawSql))).join('\n');
    for (const table of [
      'events',
      'sessions',
      'presence_samples',
      'presence_peaks',
      'engagement_scores',
      'recommendations',
      'recommendation_clicks',
      'pages',
    ]) {
      expect(sql).toMatch(new RegExp(`FROM ${table}\\b`));
    }
    const titles = dashboards.flatMap((d) => d.json.panels.map((p) => p.title));
    expect(titles).toEqual(
      expect.arrayContaining(['Top pages', 'Referrers', 'Engagement queue', 'CTR by listing', 'Live concurrency history', 'Peak concurrent visitors']),
    );
  });

  it('every panel is scoped by the account variable', () => {
    for (const d of dashboards)
      for (const p of d.json.panels) for (const t of p.targets) expect(t.rawSql, p.title).toMatch(/account(_id)? = \$\{account:singlequote\}/);
  });

  it('the engagement panel uses the same parameters as src/domain/engagement.ts', () => {
    const vars = dashboards.find((d) => d.json.uid === 'visitor-engagement')!.json.templating.list;
    const value = (name: string) => Number(vars.find((v) => v.name === name)!.query);
    expect(value('half_life_days')).toBe(ENGAGEMENT_DEFAULTS.halfLifeDays);
    expect(value('milestone_weight')).toBe(ENGAGEMENT_DEFAULTS.milestoneWeight);
    expect(value('dwell_unit_s')).toBe(ENGAGEMENT_DEFAULTS.dwellUnitSeconds);
  });
});
