/**
 * Inserts into the embedded engine.
 *
 * Rows in a line format chdb takes raw (JSONEachRow, TSV, CSV, …) are handed to the engine as
 * the Buffer they arrived in (chdb's raw insert: zero-copy, parsed by the engine, no SQL
 * parameters). chdb-node runs parameterised statements one at a time process-wide (its
 * parameter state is not per connection), so an insert that used them held every other
 * parameterised query, a dashboard's included, until it was done: measured in chdb, a query
 * waited 274–331 ms behind a 50,000-row insert, against 4–20 ms behind a raw one. No staging
 * file is written either. The engine must not see a piped stdin then (see {@link detachStdin}).
 *
 * Any other format is written to a private temporary file and read with the `file()` table
 * function, with the table's own column types. (Inline data after `FORMAT x` fails with
 * "Processing async inserts with both inlined and external data" once this process has started
 * a child, and a query parameter holding the rows is ~5× slower on 50 MB batches.)
 */
import { randomUUID } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync } from 'node:fs';
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

/**
 * `INSERT INTO t (cols) SELECT cols FROM file({__file}, FMT, {__structure})`: only the columns
 * present are listed, so omitted ones get the table's DEFAULT expressions. The table and column
 * names come from the validated INSERT statement, the types from system.columns; the file and
 * the structure travel as query parameters.
 */
export function formatInsertSql(p: ParsedInsert, cols: ColumnType[], present: string[] | undefined): { sql: string; structure: string } {
  const wanted = present ? cols.filter((c) => present.includes(c.name)) : cols;
  if (!wanted.length) throw new Error(`no insertable columns for ${p.table}`);
  const names = wanted.map((c) => `\`${c.name}\``).join(', ');
  const structure = wanted.map((c) => `\`${c.name}\` ${c.type}`).join(', ');
  const target = p.database ? `\`${p.database}\`.\`${p.table}\`` : `\`${p.table}\``;
  return { sql: `INSERT INTO ${target} (${names}) SELECT ${names} FROM file({__file:String}, ${p.format}, {__structure:String})`, structure };
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

/** The embedded defaults overridden by an insert's own settings, checked. */
export function insertSettings(own: InsertSettings = {}): InsertSettings {
  const all = { ...EMBEDDED_INSERT_SETTINGS, ...own };
  for (const [k, v] of Object.entries(all)) if (!IDENT.test(k) || !Number.isFinite(v)) throw new Error(`invalid insert setting ${k}`);
  return all;
}

/** `SETTINGS a = 1, b = 0` of {@link insertSettings}. */
export function insertSettingsClause(own: InsertSettings = {}): string {
  return `SETTINGS ${Object.entries(insertSettings(own))
    .map(([k, v]) => `${k} = ${v}`)
    .join(', ')}`;
}

/** True when the payload holds nothing but whitespace (chdb refuses an insert without rows). */
function blank(body: string | Buffer): boolean {
  if (typeof body === 'string') return !body.trim();
  for (const b of body) if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return false;
  return true;
}

/** Batches are staged here, one file per insert, removed right after. */
const STAGING_DIR = path.join(os.tmpdir(), `visitor-chdb-staging-${process.pid}`);

/** A raw insert as chdb takes it (`connection.chdb.rawInsert`). */
export interface RawInsert {
  table: string;
  columns?: string[];
  values: Buffer;
  format: RawFormat;
  settings: Record<string, number>;
}

/** The formats chdb's raw insert takes, by the names an INSERT may use for them. */
const RAW_FORMATS = {
  jsoneachrow: 'JSONEachRow',
  jsonlines: 'JSONEachRow',
  ndjson: 'JSONEachRow',
  jsoncompacteachrow: 'JSONCompactEachRow',
  tsv: 'TSV',
  tabseparated: 'TabSeparated',
  tsvwithnames: 'TSVWithNames',
  tabseparatedwithnames: 'TabSeparatedWithNames',
  csv: 'CSV',
  csvwithnames: 'CSVWithNames',
} as const;
type RawFormat = (typeof RAW_FORMATS)[keyof typeof RAW_FORMATS];

function rawFormat(format: string): RawFormat | undefined {
  return Object.hasOwn(RAW_FORMATS, format.toLowerCase()) ? RAW_FORMATS[format.toLowerCase() as keyof typeof RAW_FORMATS] : undefined;
}

/** The calls the inserter needs from a chdb connection. */
export interface SqlRunner {
  query(sql: string, params: Record<string, unknown>): Promise<string>;
  command(sql: string, params: Record<string, unknown>): Promise<void>;
  rawInsert(insert: RawInsert): Promise<void>;
}

/**
 * chdb's engine reads a piped or redirected stdin as the data of an INSERT and then refuses a
 * raw insert ("both inlined and external data"), or worse, takes stdin's bytes as rows. Point fd
 * 0 at /dev/null before the engine loads (the lowest free fd is reused by open); a terminal is
 * left alone.
 */
export function detachStdin(): void {
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

/** Runs `INSERT … FORMAT x` + rows: raw when chdb takes the format, else through {@link formatInsertSql} (caching table structures). */
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
   * Returns false when the statement is not an `INSERT … FORMAT` this path handles. A Buffer of
   * rows is never decoded: it goes to the engine, or the staging file, as it is.
   */
  async insert(query: string, body: string | Buffer, settings?: InsertSettings): Promise<boolean> {
    const p = parseInsert(query);
    if (!p) return false;
    const all = insertSettings(settings);
    if (blank(body)) return true;
    const raw = rawFormat(p.format);
    if (raw) {
      const table = p.database ? `${p.database}.${p.table}` : p.table;
      const values = typeof body === 'string' ? Buffer.from(body) : body;
      await this.sql.rawInsert({ table, columns: p.columns?.length ? p.columns : undefined, values, format: raw, settings: all });
      return true;
    }
    const clause = insertSettingsClause(all);
    const present = payloadColumns(p, body);
    let cols = await this.#columnsOf(p);
    if (present?.some((name) => !cols.some((c) => c.name === name))) {
      // A migration elsewhere added a column since the structure was cached.
      this.#columns.delete(`${p.database ?? ''}.${p.table}`);
      cols = await this.#columnsOf(p);
    }
    const { sql, structure } = formatInsertSql(p, cols, present);
    mkdirSync(STAGING_DIR, { recursive: true, mode: 0o700 });
    const file = path.join(STAGING_DIR, `${randomUUID()}.${p.format.toLowerCase()}`);
    await writeFile(file, body, { mode: 0o600 });
    try {
      await this.sql.command(`${sql} ${clause}`, { __file: file, __structure: structure });
    } finally {
      await rm(file, { force: true });
    }
    return true;
  }
}
