import { closeSync, fstatSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { EmbeddedInserter, onOwnConnection, stringLiteral, type InsertSettings } from './chdb-insert.js';

type Connection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>;

export type { ClickHouseClient };

export interface ClickHouseOptions {
  /**
   * HTTP URL of a ClickHouse server (or of this service's `store` role). Unset: embedded chdb.
   * Credentials go in its userinfo (`http://user:password@host:port`), which clickhouse-js reads
   * as its `username`/`password` and sends as basic auth.
   */
  url?: string;
  /** Embedded data directory, used when `url` is unset. */
  dataPath: string;
  database: string;
}

/**
 * The embedded engine (clickhouse-local) reads a piped or redirected stdin as INSERT data, so
 * under a pipe an insert would fail or, worse, take stdin's bytes as rows. Point fd 0 at
 * /dev/null before the engine loads (the lowest free fd is reused by open).
 */
function detachStdin(): void {
  try {
    if (fstatSync(0).isCharacterDevice()) return;
  } catch {
    // fd 0 closed: open below takes it.
  }
  try {
    closeSync(0);
  } catch {
    // already closed
  }
  const fd = openSync('/dev/null', 'r');
  if (fd !== 0) closeSync(fd);
}

async function collect(values: unknown): Promise<string> {
  if (typeof values === 'string') return values;
  let out = '';
  for await (const chunk of values as AsyncIterable<Buffer | string>) out += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
  return out;
}

/**
 * A query's settings as its own `SETTINGS` clause. chdb applies `clickhouse_settings` as `SET`
 * statements that stay on the connection's one session, so an admin query's
 * `max_execution_time` would go on to cap every later insert and mutation; a query-level clause
 * holds for that query only, as settings sent over HTTP do.
 */
export function querySettingsClause(settings: Record<string, unknown>): string | undefined {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(settings)) {
    if (v === undefined) continue;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid setting name ${JSON.stringify(k)}`);
    const value = typeof v === 'number' && Number.isFinite(v) ? String(v) : typeof v === 'boolean' ? (v ? '1' : '0') : stringLiteral(String(v));
    parts.push(`${k} = ${value}`);
  }
  return parts.length ? `SETTINGS ${parts.join(', ')}` : undefined;
}

/** The inserter of each embedded client, for {@link insertJsonLines}. */
const embeddedInserters = new WeakMap<object, EmbeddedInserter>();

/**
 * A chdb connection whose inserts go through {@link EmbeddedInserter} (see chdb-insert.ts for
 * why) and whose queries carry their settings in a clause of their own. An insert runs on a
 * connection of its own from `open`, bound to `database` (two may be in flight, and chdb keeps a
 * query's state per connection).
 */
export function withSafeInserts(conn: Connection, open: () => Connection, database: string): Connection & { inserter: EmbeddedInserter } {
  const run = async (sql: string, params: Record<string, unknown>) => {
    const r = await conn.query({ query: sql, query_params: params, clickhouse_settings: { default_format: 'JSONEachRow' } } as never);
    return collect(r.stream);
  };
  const inserter = new EmbeddedInserter({
    query: run,
    insert: (sql) => onOwnConnection(open, async (own) => void (await own.command({ query: `USE \`${database}\`;\n${sql}` } as never))),
  });
  const insert: Connection['insert'] = async (params) => {
    const body = await collect(params.values);
    const queryId = params.query_id ?? randomUUID();
    if (!(await inserter.insert(params.query, body))) return conn.insert(params);
    return { query_id: queryId, response_headers: {}, http_status_code: 200, summary: undefined } as Awaited<ReturnType<Connection['insert']>>;
  };
  const query: Connection['query'] = (params) => {
    const { default_format: format, ...settings } = params.clickhouse_settings ?? {};
    const clause = querySettingsClause(settings);
    if (!clause) return conn.query(params);
    return conn.query({ ...params, query: `${params.query}\n${clause}`, clickhouse_settings: format === undefined ? {} : { default_format: format } });
  };
  return new Proxy(conn as Connection & { inserter: EmbeddedInserter }, {
    get(target, prop, receiver) {
      if (prop === 'insert') return insert;
      if (prop === 'query') return query;
      if (prop === 'inserter') return inserter;
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Open the embedded engine once, create the database, and return a client bound to it. */
async function createEmbeddedClient(dataPath: string, database: string): Promise<ClickHouseClient> {
  await mkdir(dataPath, { recursive: true });
  // chdb/connection is CommonJS and loads the native engine: import lazily so server mode never loads it.
  detachStdin();
  const { createChdbConnection } = await import('chdb/connection');
  const open = () => createChdbConnection({ path: dataPath }) as unknown as Connection;
  const conn = withSafeInserts(open(), open, database);
  const client = createClient({ connection: conn });
  embeddedInserters.set(client, conn.inserter);
  // chdb ignores the client's `database` option but keeps `USE` for the life of the connection's
  // session, so the client is bound once here (the name is a validated identifier).
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS \`${database}\`` });
  await client.command({ query: `USE \`${database}\`` });
  return client;
}

async function createServerClient(url: string, database: string): Promise<ClickHouseClient> {
  const admin = createClient({ url, request_timeout: 30_000, log: { level: ClickHouseLogLevel.OFF } });
  try {
    await admin.command({ query: `CREATE DATABASE IF NOT EXISTS \`${database}\`` });
  } finally {
    await admin.close();
  }
  return createClient({
    url,
    database,
    // Failures surface as rejected promises that callers log through pino; the client's own
    // console logger would only repeat them outside the JSON log.
    log: { level: ClickHouseLogLevel.OFF },
    request_timeout: 60_000,
    clickhouse_settings: { date_time_input_format: 'best_effort' },
  });
}

export function embeddedDataPath(dataDir: string): string {
  return path.resolve(dataDir, 'clickhouse');
}

export async function createClickHouse(opts: ClickHouseOptions): Promise<ClickHouseClient> {
  return opts.url ? createServerClient(opts.url, opts.database) : createEmbeddedClient(opts.dataPath, opts.database);
}

/**
 * Insert rows that are JSONEachRow bytes already (one object a line) as they are: nothing is
 * decoded, parsed or serialised again. An embedded client hands them to its engine in this
 * process (no HTTP hop); a server gets them as the request body. Both apply `settings` to the
 * insert (numeric ones: see {@link InsertSettings}).
 */
export async function insertJsonLines(client: ClickHouseClient, table: string, body: Buffer, settings?: InsertSettings): Promise<void> {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) throw new Error(`not a table name: ${table}`);
  const query = `INSERT INTO ${table} FORMAT JSONEachRow`;
  const inserter = embeddedInserters.get(client);
  if (inserter) {
    if (!(await inserter.insert(query, body, settings))) throw new Error(`the embedded inserter refused: ${query}`);
    return;
  }
  const res = await client.exec({ query, values: Readable.from([body], { objectMode: false }), clickhouse_settings: settings as ClickHouseSettings });
  for await (const _ of res.stream) {
    // An INSERT answers with an empty body; read it so the socket goes back to the pool.
  }
}
