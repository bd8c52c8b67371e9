import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import {
  MIGRATIONS_DIR,
  REPLICATED_PATH,
  clusterStatements,
  migrate,
  renderStatement,
  replicateEngines,
  splitStatements,
} from '../../src/adapters/clickhouse/migrate.js';
import { createLogger } from '../../src/logger.js';

const REPL = `'${REPLICATED_PATH}', '{replica}'`;

function migrationStatements(): { file: string; sql: string }[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .flatMap((file) => splitStatements(readFileSync(path.join(MIGRATIONS_DIR, file), 'utf8')).map((sql) => ({ file, sql })));
}

describe('cluster rendering of migrations', () => {
  it('leaves statements alone without a cluster, only dropping the placeholder', () => {
    const sql = 'CREATE TABLE IF NOT EXISTS t {on_cluster} (a UInt8) ENGINE = ReplacingMergeTree(a) ORDER BY a';
    expect(renderStatement(sql, {})).toBe('CREATE TABLE IF NOT EXISTS t  (a UInt8) ENGINE = ReplacingMergeTree(a) ORDER BY a');
    expect(clusterStatements({})).toEqual([]);
  });

  it('maps each MergeTree family engine to its replicated form, keeping its own arguments', () => {
    const cases: [string, string][] = [
      ['ENGINE = MergeTree PARTITION BY x', `ENGINE = ReplicatedMergeTree(${REPL}) PARTITION BY x`],
      ['ENGINE = MergeTree() ORDER BY a', `ENGINE = ReplicatedMergeTree(${REPL}) ORDER BY a`],
      ['ENGINE=ReplacingMergeTree(ts) ORDER BY a', `ENGINE = ReplicatedReplacingMergeTree(${REPL}, ts) ORDER BY a`],
      ['ENGINE = ReplacingMergeTree\nORDER BY version', `ENGINE = ReplicatedReplacingMergeTree(${REPL})\nORDER BY version`],
      ['ENGINE = AggregatingMergeTree ORDER BY a', `ENGINE = ReplicatedAggregatingMergeTree(${REPL}) ORDER BY a`],
      ['ENGINE = SummingMergeTree((clicks, views)) ORDER BY a', `ENGINE = ReplicatedSummingMergeTree(${REPL}, (clicks, views)) ORDER BY a`],
      ['ENGINE = CollapsingMergeTree(sign) ORDER BY a', `ENGINE = ReplicatedCollapsingMergeTree(${REPL}, sign) ORDER BY a`],
      // A quoted parenthesis inside the arguments does not end them.
      ["ENGINE = ReplacingMergeTree(if(v = ')', 1, 2)) ORDER BY a", `ENGINE = ReplicatedReplacingMergeTree(${REPL}, if(v = ')', 1, 2)) ORDER BY a`],
    ];
    for (const [input, want] of cases) expect(replicateEngines(input)).toBe(want);
  });

  it('leaves replicated, distributed and non-MergeTree engines as they are', () => {
    for (const sql of [
      "ENGINE = ReplicatedMergeTree('/p/{shard}', '{replica}') ORDER BY a",
      'ENGINE = Distributed(c, db, events, rand())',
      'ENGINE = Memory',
      'CREATE MATERIALIZED VIEW IF NOT EXISTS v TO t AS SELECT a FROM events',
    ]) {
      expect(replicateEngines(sql)).toBe(sql);
    }
  });

  it('renders every real migration for a cluster: ON CLUSTER everywhere, every table replicated', () => {
    const statements = migrationStatements();
    expect(statements.length).toBeGreaterThan(3);
    let engines = 0;
    for (const { file, sql } of statements) {
      const out = renderStatement(sql, { cluster: 'prod' });
      expect(out, file).not.toContain('{on_cluster}');
      if (/^\s*CREATE\s+(TABLE|MATERIALIZED VIEW|VIEW)\b/i.test(sql)) expect(out, file).toMatch(/ON CLUSTER `prod`/);
      const families = [...sql.matchAll(/ENGINE\s*=\s*(\w*MergeTree)/g)].map((m) => m[1]!);
      engines += families.length;
      for (const f of families) {
        expect(out, file).toContain(`ENGINE = Replicated${f}('${REPLICATED_PATH}', '{replica}'`);
      }
      expect(out.match(/ENGINE\s*=\s*(?!Replicated)\w*MergeTree/), file).toBeNull();
      // Everything but the engine clause and the placeholder is unchanged.
      const strip = (s: string) => s.replace(/ENGINE\s*=\s*\w*MergeTree(\([^\n]*\))?/g, 'ENGINE').replace(/\{on_cluster\}|ON CLUSTER `prod`/g, '');
      expect(strip(out), file).toBe(strip(sql));
    }
    expect(engines).toBeGreaterThanOrEqual(3);
    const events = statements.find((s) => /CREATE TABLE IF NOT EXISTS events\b/.test(s.sql))!;
    expect(renderStatement(events.sql, { cluster: 'prod' })).toContain(`CREATE TABLE IF NOT EXISTS events ON CLUSTER \`prod\` (`);
    const edges = statements.find((s) => /CREATE TABLE IF NOT EXISTS identity_edges\b/.test(s.sql))!;
    expect(renderStatement(edges.sql, { cluster: 'prod' })).toContain(`ENGINE = ReplicatedReplacingMergeTree(${REPL}, ts)`);
  });

  it('creates a Distributed events table sharded by account and session', () => {
    const [stmt, ...rest] = clusterStatements({ cluster: 'prod' });
    expect(rest).toEqual([]);
    expect(stmt!.replace(/\s+/g, ' ')).toBe(
      'CREATE TABLE IF NOT EXISTS events_distributed ON CLUSTER `prod` AS events ENGINE = Distributed(`prod`, currentDatabase(), events, cityHash64(account_id, session_id))',
    );
  });

  it('migrate() sends the replicated ledger, every migration and the distributed table to the server', async () => {
    const commands: string[] = [];
    const inserted: unknown[] = [];
    const fake = {
      command: async ({ query }: { query: string }) => void commands.push(query),
      query: async () => ({ json: async () => [] }),
      insert: async ({ values }: { values: unknown[] }) => void inserted.push(...values),
    } as unknown as ClickHouseClient;
    const applied = await migrate(fake, createLogger('silent'), { cluster: 'prod' });
    const files = readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f));
    expect(applied.length).toBe(files.length);
    expect(inserted.length).toBe(files.length);
    expect(commands[0]).toMatch(/CREATE TABLE IF NOT EXISTS schema_migrations ON CLUSTER `prod`/);
    expect(commands[0]).toContain(`ENGINE = ReplicatedReplacingMergeTree(${REPL})`);
    expect(commands.at(-1)).toMatch(/^CREATE TABLE IF NOT EXISTS events_distributed ON CLUSTER `prod`/);
    expect(commands.filter((c) => /ENGINE\s*=\s*(?!Replicated|Distributed)\w*MergeTree/.test(c))).toEqual([]);
    expect(commands.length).toBe(1 + migrationStatements().length + 1);
  });
});
