/**
 * Inserts into the embedded engine without inline data.
 *
 * clickhouse-local (inside chdb) treats an INSERT that carries its rows after `FORMAT x` as
 * "inline data" and, once this process has started a child (our redis-server), also sees
 * external stdin data, failing with "Processing async inserts with both inlined and external
 * data". The rows are therefore passed as a query parameter and read with the `format()`
 * table function, with the table's own column types, which never touches stdin.
 */

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
export function payloadColumns(p: ParsedInsert, body: string): string[] | undefined {
  if (p.columns?.length) return p.columns;
  if (!/^JSON(EachRow|Lines|CompactEachRowWithNames)?$/i.test(p.format)) return undefined;
  const firstLine = body.slice(0, body.indexOf('\n') === -1 ? body.length : body.indexOf('\n')).trim();
  try {
    const keys = Object.keys(JSON.parse(firstLine) as object);
    return keys.every((k) => IDENT.test(k)) ? keys : undefined;
  } catch {
    return undefined;
  }
}

function quoteString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * `INSERT INTO t (cols) SELECT cols FROM format(FMT, 'structure', {__rows:String})`: only the
 * columns present are listed, so omitted ones get the table's DEFAULT expressions. The table
 * and column names come from the validated INSERT statement, the types from system.columns.
 */
export function formatInsertSql(p: ParsedInsert, cols: ColumnType[], present: string[] | undefined): string {
  const wanted = present ? cols.filter((c) => present.includes(c.name)) : cols;
  if (!wanted.length) throw new Error(`no insertable columns for ${p.table}`);
  const names = wanted.map((c) => `\`${c.name}\``).join(', ');
  const structure = wanted.map((c) => `${c.name} ${c.type}`).join(', ');
  const target = p.database ? `\`${p.database}\`.\`${p.table}\`` : `\`${p.table}\``;
  return `INSERT INTO ${target} (${names}) SELECT ${names} FROM format(${p.format}, ${quoteString(structure)}, {__rows:String})`;
}

/** The two calls the inserter needs from a chdb connection. */
export interface SqlRunner {
  query(sql: string, params: Record<string, unknown>): Promise<string>;
  command(sql: string, params: Record<string, unknown>): Promise<void>;
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

  /** Returns false when the statement is not an `INSERT … FORMAT` this path handles. */
  async insert(query: string, body: string): Promise<boolean> {
    const p = parseInsert(query);
    if (!p) return false;
    if (!body.trim()) return true;
    const present = payloadColumns(p, body);
    let cols = await this.#columnsOf(p);
    if (present?.some((name) => !cols.some((c) => c.name === name))) {
      // A migration elsewhere added a column since the structure was cached.
      this.#columns.delete(`${p.database ?? ''}.${p.table}`);
      cols = await this.#columnsOf(p);
    }
    await this.sql.command(formatInsertSql(p, cols, present), { __rows: body });
    return true;
  }
}
