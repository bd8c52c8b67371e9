/**
 * Inserts into the embedded engine without inline data.
 *
 * clickhouse-local (inside chdb) treats an INSERT that carries its rows after `FORMAT x` as
 * "inline data" and, once this process has started a child (our redis-server), also sees
 * external stdin data, failing with "Processing async inserts with both inlined and external
 * data". The rows are therefore written to a private temporary file and read with the `file()`
 * table function, with the table's own column types, which never touches stdin. (A query
 * parameter holding the rows works too but is ~5× slower on 50 MB batches; chdb's raw insert
 * of the Buffer cost ~1.5× the CPU a row in the store, bench flush phase.)
 *
 * The statement carries no query parameters: chdb-node runs parameterised statements one at a
 * time process-wide (its parameter state is not per connection), so an insert that used them
 * held every other parameterised query, a dashboard's included, until it was done (measured in
 * chdb: 274–404 ms behind a 50,000-row insert, 5–20 ms behind one without parameters). The
 * file's path and the column list are ours (a name this module made, types from
 * system.columns), written as quoted literals.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const INSERT_RE = /^\s*INSERT\s+INTO\s+([A-Za-z_][\w.`"]*)\s*(\(([^)]*)\))?\s*FORMAT\s+(\w+)\s*$/i;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface ParsedInsert {
  database?: string;
  table: string;
  columns?: string[];
  format: string;
}

export function parseInsert(query: string): ParsedInsert | undefined {
  const m = INSERT_RE.exec(query);
  if (!m) return undefined;
  const parts = m[1]!.replace(/[`"]/g, '').split('.');
  const table = parts.pop()!;
  const database = parts.pop();
  const columns = m[3]
    ?.split(',')
    .map((c) => c.trim().replace(/[`"]/g, ''))
    .filter(Boolean);
  if (!IDENT.test(table) || (database && !IDENT.test(database)) || columns?.some((c) => !IDENT.test(c))) return undefined;
  return { database, table, columns, format: m[4]! };
}

export interface ColumnType {
  name: string;
  type: string;
}

/** SQL listing insertable columns of a table (no MATERIALIZED/ALIAS/EPHEMERAL). */
export const COLUMNS_SQL = `SELECT name, type FROM system.columns
  WHERE database = if({db:String} = '', currentDatabase(), {db:String}) AND table = {table:String}
    AND default_kind NOT IN ('MATERIALIZED', 'ALIAS', 'EPHEMERAL')
  ORDER BY position`;

/** The columns a payload's rows carry: the explicit list, else the keys of its first JSON row. */
export function payloadColumns(p: ParsedInsert, body: string | Buffer): string[] | undefined {
  if (p.columns?.length) return p.columns;
  if (!/^JSON(EachRow|Lines|CompactEachRowWithNames)?$/i.test(p.format)) return undefined;
  const nl = body.indexOf('\n');
  const firstLine = body
    .slice(0, nl === -1 ? body.length : nl)
    .toString()
    .trim();
  try {
    const keys = Object.keys(JSON.parse(firstLine) as object);
    return keys.every((k) => IDENT.test(k)) ? keys : undefined;
  } catch {
    return undefined;
  }
}

/** A ClickHouse string literal of `text`: quoted, with its backslashes and quotes escaped. */
export function stringLiteral(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * `INSERT INTO t (cols) SELECT cols FROM file('<file>', FMT, '<structure>')`: only the columns
 * present are listed, so omitted ones get the table's DEFAULT expressions. The table and column
 * names come from the validated INSERT statement, the types from system.columns, the file is
 * the staging file; no query parameters (see the module's comment).
 */
export function formatInsertSql(p: ParsedInsert, cols: ColumnType[], present: string[] | undefined, file: string): string {
  const wanted = present ? cols.filter((c) => present.includes(c.name)) : cols;
  if (!wanted.length) throw new Error(`no insertable columns for ${p.table}`);
  const names = wanted.map((c) => `\`${c.name}\``).join(', ');
  const structure = wanted.map((c) => `\`${c.name}\` ${c.type}`).join(', ');
  const target = p.database ? `\`${p.database}\`.\`${p.table}\`` : `\`${p.table}\``;
  return `INSERT INTO ${target} (${names}) SELECT ${names} FROM file(${stringLiteral(file)}, ${p.format}, ${stringLiteral(structure)})`;
}

/**
 * Settings of every embedded insert (the SETTINGS clause of an INSERT … SELECT applies to the
 * whole insert, its views included):
 * - parallel_view_processing = 1: the materialised views on `events` are independent of one
 *   another; filled in parallel, they use a second core instead of running one after another.
 * - input_format_parallel_parsing = 0: the embedded engine shares its cores with the flusher,
 *   the gateway and Redis. Parsing a staged batch on one thread cost ~2 µs a row less CPU than
 *   splitting it across threads (measured in chdb, 50,000-row JSONEachRow batches), and on two
 *   busy cores it finished sooner too.
 */
export const EMBEDDED_INSERT_SETTINGS: Readonly<InsertSettings> = { parallel_view_processing: 1, input_format_parallel_parsing: 0 };

/** Numeric settings of one insert (names are identifiers, values finite numbers: nothing to quote). */
export type InsertSettings = Record<string, number>;

/** `SETTINGS a = 1, b = 0` of the embedded defaults overridden by an insert's own settings. */
export function insertSettingsClause(own: InsertSettings = {}): string {
  const all = { ...EMBEDDED_INSERT_SETTINGS, ...own };
  const parts = Object.entries(all).map(([k, v]) => {
    if (!IDENT.test(k) || !Number.isFinite(v)) throw new Error(`invalid insert setting ${k}`);
    return `${k} = ${v}`;
  });
  return `SETTINGS ${parts.join(', ')}`;
}

/** True when the payload holds nothing but whitespace (chdb refuses an insert without rows). */
function blank(body: string | Buffer): boolean {
  if (typeof body === 'string') return !body.trim();
  for (const b of body) if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return false;
  return true;
}

/** Batches are staged here, one file per insert, removed right after. */
const STAGING_DIR = path.join(os.tmpdir(), `visitor-chdb-staging-${process.pid}`);

/**
 * Run on a chdb connection of its own, closed after: chdb keeps `SET`, `USE` and a query's state
 * per connection, so statements that may run at once, or must not leak settings, each get one.
 */
export async function onOwnConnection<C extends { close(): Promise<void> }, T>(open: () => C, run: (c: C) => Promise<T>): Promise<T> {
  const c = open();
  try {
    return await run(c);
  } finally {
    await c.close();
  }
}

/** The two calls the inserter needs from a chdb connection. */
export interface SqlRunner {
  query(sql: string, params: Record<string, unknown>): Promise<string>;
  /** Run a statement without parameters on a connection of its own: chdb keeps a query's state per connection, and two inserts may be in flight. */
  insert(sql: string): Promise<void>;
}

/** Runs `INSERT … FORMAT x` + rows through {@link formatInsertSql}, caching table structures. */
export class EmbeddedInserter {
  readonly #columns = new Map<string, ColumnType[]>();

  constructor(private readonly sql: SqlRunner) {}

  async #columnsOf(p: ParsedInsert): Promise<ColumnType[]> {
    const key = `${p.database ?? ''}.${p.table}`;
    let cols = this.#columns.get(key);
    if (!cols) {
      const text = await this.sql.query(COLUMNS_SQL, { db: p.database ?? '', table: p.table });
      cols = text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as ColumnType);
      if (!cols.length) throw Object.assign(new Error(`Code: 60. DB::Exception: Table ${key} does not exist. (UNKNOWN_TABLE)`), { code: '60' });
      this.#columns.set(key, cols);
    }
    return cols;
  }

  /** Forget cached structures (after migrations change a table). */
  reset(): void {
    this.#columns.clear();
  }

  /**
   * Returns false when the statement is not an `INSERT … FORMAT` this path handles. The body
   * is written to the staging file as it is: a Buffer of rows is never decoded.
   */
  async insert(query: string, body: string | Buffer, settings?: InsertSettings): Promise<boolean> {
    const p = parseInsert(query);
    if (!p) return false;
    const clause = insertSettingsClause(settings);
    if (blank(body)) return true;
    const present = payloadColumns(p, body);
    let cols = await this.#columnsOf(p);
    if (present?.some((name) => !cols.some((c) => c.name === name))) {
      // A migration elsewhere added a column since the structure was cached.
      this.#columns.delete(`${p.database ?? ''}.${p.table}`);
      cols = await this.#columnsOf(p);
    }
    mkdirSync(STAGING_DIR, { recursive: true, mode: 0o700 });
    const file = path.join(STAGING_DIR, `${randomUUID()}.${p.format.toLowerCase()}`);
    const sql = formatInsertSql(p, cols, present, file);
    await writeFile(file, body, { mode: 0o600 });
    try {
      await this.sql.insert(`${sql} ${clause}`);
    } finally {
      await rm(file, { force: true });
    }
    return true;
  }
}
