import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Logger } from '../../logger.js';
import { CLUSTER_TABLES, TABLES } from './tables.js';

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
  /**
   * Cluster name (`CLICKHOUSE_CLUSTER`). When set, `{on_cluster}` becomes `ON CLUSTER <name>`,
   * `{cluster}` the name, every MergeTree-family engine its `Replicated…` form, and a
   * `Distributed` table is created over `events` (see {@link clusterStatements}).
   */
  cluster?: string;
}

/**
 * ZooKeeper/Keeper path of a replicated table. `{shard}` and `{replica}` are macros every server
 * of the cluster defines in its config; ClickHouse expands `{database}` and `{table}` itself, so
 * one migration text serves every database name.
 */
export const REPLICATED_PATH = '/clickhouse/tables/{shard}/{database}/{table}';

/** `ENGINE = <family>MergeTree` not already replicated; the optional argument list is read separately (it may nest). */
const MERGE_TREE_ENGINE = /\bENGINE\s*=\s*(Replacing|Aggregating|Summing|Collapsing|VersionedCollapsing|Graphite)?MergeTree\b/g;

/** Index just past the `)` that closes the `(` at `open`, skipping quoted text; -1 when unbalanced. */
function closingParen(sql: string, open: number): number {
  let depth = 0;
  for (let i = open; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'" || c === '`' || c === '"') {
      const q = c;
      for (i++; i < sql.length && sql[i] !== q; i++) if (sql[i] === '\\') i++;
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i + 1;
  }
  return -1;
}

/**
 * `ENGINE = MergeTree` → `ENGINE = ReplicatedMergeTree('<path>', '{replica}')`, and the same for
 * Replacing/Aggregating/Summing/Collapsing/VersionedCollapsing/Graphite, keeping the engine's own
 * arguments after the two replication ones (`ReplacingMergeTree(ts)` →
 * `ReplicatedReplacingMergeTree('<path>', '{replica}', ts)`). Engines already `Replicated…`, and
 * every other engine (Distributed, Memory, views), are left as they are.
 */
export function replicateEngines(sql: string): string {
  let out = '';
  let last = 0;
  for (const m of sql.matchAll(MERGE_TREE_ENGINE)) {
    const start = m.index;
    let end = start + m[0].length;
    let args = '';
    let j = end;
    while (j < sql.length && /\s/.test(sql[j]!)) j++;
    if (sql[j] === '(') {
      const close = closingParen(sql, j);
      if (close < 0) throw new Error(`unbalanced engine arguments in: ${sql.slice(start, start + 80)}`);
      args = sql.slice(j + 1, close - 1).trim();
      end = close;
    }
    out += `${sql.slice(last, start)}ENGINE = Replicated${m[1] ?? ''}MergeTree('${REPLICATED_PATH}', '{replica}'${args ? `, ${args}` : ''})`;
    last = end;
  }
  return out + sql.slice(last);
}

/** Expand the cluster placeholders; the name is a validated identifier from config, never request input. */
export function renderStatement(sql: string, opts: MigrationOptions): string {
  const text = sql.replaceAll('{on_cluster}', opts.cluster ? `ON CLUSTER \`${opts.cluster}\`` : '').replaceAll('{cluster}', opts.cluster ?? '');
  return opts.cluster ? replicateEngines(text) : text;
}

/**
 * Statements run after the migrations on every start when a cluster is configured (idempotent):
 * `events_distributed`, a `Distributed` table over each shard's replicated `events`, sharded by
 * (account, session) so a session's events, and so its `sessions` aggregate, stay on one shard.
 * The service itself keeps writing and reading `events` on the node it talks to: with one shard
 * (replicas only) that is the whole data set; with several shards, read (and for sharded writes,
 * insert) through `events_distributed`.
 */
export function clusterStatements(opts: MigrationOptions): string[] {
  if (!opts.cluster) return [];
  const c = `\`${opts.cluster}\``;
  return [
    `CREATE TABLE IF NOT EXISTS ${CLUSTER_TABLES.eventsDistributed} ON CLUSTER ${c} AS ${TABLES.events}
       ENGINE = Distributed(${c}, currentDatabase(), ${TABLES.events}, cityHash64(account_id, session_id))`,
  ];
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
    log.info({ version: m.version, name: m.name, ms: Math.round(performance.now() - started) }, '[migration] applied');
    done.push(m.version);
  }
  for (const stmt of clusterStatements(opts)) await client.command({ query: stmt });
  return done;
}
