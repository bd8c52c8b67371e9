import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Logger } from '../../logger.js';
import { TABLES } from './tables.js';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../clickhouse');

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

/** Statements are separated by a `;` at the end of a line; `--` comment lines are dropped. */
export function splitStatements(sql: string): string[] {
  const body = sql
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('--'))
    .join('\n');
  return body
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export interface MigrationOptions {
  /** Cluster name: `{on_cluster}` becomes `ON CLUSTER <name>` and `{cluster}` the name. */
  cluster?: string;
}

/** Expand the cluster placeholders; the name is a validated identifier from config, never request input. */
export function renderStatement(sql: string, opts: MigrationOptions): string {
  return sql.replaceAll('{on_cluster}', opts.cluster ? `ON CLUSTER \`${opts.cluster}\`` : '').replaceAll('{cluster}', opts.cluster ?? '');
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const out: Migration[] = [];
  for (const f of files) {
    const sql = await readFile(path.join(dir, f), 'utf8');
    out.push({ version: Number(f.slice(0, 4)), name: f.replace(/\.sql$/, ''), statements: splitStatements(sql) });
  }
  const seen = new Set<number>();
  for (const m of out) {
    if (seen.has(m.version)) throw new Error(`duplicate migration version ${m.version}`);
    seen.add(m.version);
  }
  return out;
}

/**
 * Apply every migration not yet in the ledger, in order. Each statement is idempotent
 * (`IF NOT EXISTS`), so two processes racing, or a crash between a statement and its
 * ledger row, only re-run harmless statements.
 */
export async function migrate(client: ClickHouseClient, log: Logger, opts: MigrationOptions = {}): Promise<number[]> {
  await client.command({
    query: renderStatement(
      `CREATE TABLE IF NOT EXISTS ${TABLES.migrations} {on_cluster} (version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
       ENGINE = ReplacingMergeTree ORDER BY version`,
      opts,
    ),
  });
  const rs = await client.query({ query: `SELECT DISTINCT version FROM ${TABLES.migrations}`, format: 'JSONEachRow' });
  const applied = new Set((await rs.json<{ version: number }>()).map((r) => Number(r.version)));
  const done: number[] = [];
  for (const m of await loadMigrations()) {
    if (applied.has(m.version)) continue;
    const started = performance.now();
    for (const stmt of m.statements) await client.command({ query: renderStatement(stmt, opts) });
    await client.insert({ table: TABLES.migrations, values: [{ version: m.version, name: m.name }], format: 'JSONEachRow' });
    log.info({ version: m.version, name: m.name, ms: Math.round(performance.now() - started) }, `[migration] applied ${m.name}`);
    done.push(m.version);
  }
  return done;
}
