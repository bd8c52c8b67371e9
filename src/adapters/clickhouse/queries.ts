import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';

/** Read-only query SQL, one `.sql` file per query: SQL lives in `clickhouse/`, not in TypeScript. */
export const QUERIES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../clickhouse/queries');

/** Every query file, by name (`clickhouse/queries/<name>.sql`). */
export const QUERY_NAMES = [
  'recent-by-person',
  'pages-lookup',
  'recent-by-page',
  'engagement-score',
  'recommendation-ctr',
  'session-detail',
  'visitor-persons',
  'visitor-sessions',
  'briefing',
  'traffic-series',
  'top-pages',
  'ctr-series',
  'online-series',
  'recorded-peaks',
] as const;

export type QueryName = (typeof QUERY_NAMES)[number];

const cache = new Map<QueryName, string>();

/** A query's text with its `-- @include "x"` lines replaced by `clickhouse/queries/includes/x.sql` (as `redis/includes/`). */
function expandIncludes(sql: string): string {
  return sql.replace(/^\s*--\s*@include\s+"([a-z0-9-]+)"\s*$/gm, (_m, name: string) =>
    readFileSync(path.join(QUERIES_DIR, 'includes', `${name}.sql`), 'utf8').trimEnd(),
  );
}

/**
 * The SQL of a named query, includes expanded (read once, then cached). Values go in as
 * `{name:Type}` parameters only.
 */
export function querySql(name: QueryName): string {
  let sql = cache.get(name);
  if (sql === undefined) {
    sql = expandIncludes(readFileSync(path.join(QUERIES_DIR, `${name}.sql`), 'utf8'));
    cache.set(name, sql);
  }
  return sql;
}

/** A query ran past its `max_execution_time` (ClickHouse's TIMEOUT_EXCEEDED, code 159). */
export class QueryTimeLimitError extends Error {
  override name = 'QueryTimeLimitError';
}

export interface RunQueryOptions {
  /** ClickHouse's `max_execution_time` for this query, in milliseconds. Unset: no limit. */
  timeoutMs?: number;
}

/**
 * Run a named query with query parameters and return its rows. 64-bit integers come back as
 * JSON numbers (every count here is far below 2^53).
 */
export async function runQuery<T>(ch: ClickHouseClient, name: QueryName, params: Record<string, unknown>, opts: RunQueryOptions = {}): Promise<T[]> {
  try {
    const rs = await ch.query({
      query: querySql(name),
      query_params: params,
      format: 'JSONEachRow',
      clickhouse_settings: {
        output_format_json_quote_64bit_integers: 0,
        // Seconds, fractional: the engine checks it while it reads, so the query stops there.
        ...(opts.timeoutMs !== undefined ? { max_execution_time: opts.timeoutMs / 1000 } : {}),
      },
    });
    return await rs.json<T>();
  } catch (err) {
    const e = err as { code?: unknown; type?: unknown };
    if (String(e.code) === '159' || e.type === 'TIMEOUT_EXCEEDED') throw new QueryTimeLimitError(`${name} ran past ${opts.timeoutMs} ms`, { cause: err });
    throw err;
  }
}
