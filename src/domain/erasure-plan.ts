/**
 * What erasing a person touches in ClickHouse, worked out from the live schema: every table
 * of the current database with an `account_id` column and at least one of `visitor_id`,
 * `person_id`, `session_id` (materialised-view targets added later are found the same way).
 * Pure: it builds SQL text from column metadata; every value travels as a query parameter.
 */

/** One row of `system.columns` joined with the table's engine. */
export interface ColumnInfo {
  table: string;
  name: string;
  type: string;
  engine: string;
}

export type IdColumn = 'visitor_id' | 'person_id' | 'session_id';
export const ID_COLUMNS: readonly IdColumn[] = ['visitor_id', 'person_id', 'session_id'];

/** How a column is compared: plain values, values inside aggregate states, or arrays of ids. */
export type ColumnShape = 'scalar' | 'aggregate' | 'array';

export interface TargetTable {
  table: string;
  /** Usable id columns and how each is read. */
  ids: Partial<Record<IdColumn, ColumnShape>>;
}

export interface SkippedTable {
  table: string;
  reason: 'kept' | 'no-id-columns' | 'no-account-column' | 'engine' | 'id-column-type';
}

export interface ErasurePlan {
  targets: TargetTable[];
  skipped: SkippedTable[];
}

/** Content tables that survive erasure whatever columns they grow. */
export const KEPT_TABLES: ReadonlySet<string> = new Set(['pages', 'listings', 'schema_migrations', 'erasure_receipts']);

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const STRINGISH = String.raw`(?:LowCardinality\()?(?:Nullable\()?(?:String|FixedString\(\d+\))\)?\)?`;
const SCALAR_RE = new RegExp(`^(?:${STRINGISH}|SimpleAggregateFunction\\(\\w+, ${STRINGISH}\\))$`);
/** Aggregate states whose final value is one of the argument strings (argMax(person_id, ts) …). */
const AGGREGATE_RE = new RegExp(`^AggregateFunction\\((?:any|anyLast|anyHeavy|argMax|argMin|min|max)(?:\\(\\))?, ${STRINGISH}(?:, .+)?\\)$`);
const ARRAY_RE = new RegExp(`^(?:SimpleAggregateFunction\\(\\w+, )?Array\\(${STRINGISH}\\)\\)?$`);

export function columnShape(type: string): ColumnShape | undefined {
  if (SCALAR_RE.test(type)) return 'scalar';
  if (AGGREGATE_RE.test(type)) return 'aggregate';
  if (ARRAY_RE.test(type)) return 'array';
  return undefined;
}

/** Only table engines that keep rows and accept `ALTER … DELETE` (views, Distributed, Null … are not). */
export function deletableEngine(engine: string): boolean {
  return /MergeTree$/.test(engine);
}

/** Group `system.columns` rows into the tables erasure must clean, and say why the rest are left. */
export function planErasure(columns: readonly ColumnInfo[]): ErasurePlan {
  const byTable = new Map<string, ColumnInfo[]>();
  for (const c of columns) {
    let list = byTable.get(c.table);
    if (!list) byTable.set(c.table, (list = []));
    list.push(c);
  }
  const plan: ErasurePlan = { targets: [], skipped: [] };
  for (const [table, cols] of [...byTable].sort(([a], [b]) => a.localeCompare(b))) {
    const names = new Map(cols.map((c) => [c.name, c]));
    const present = ID_COLUMNS.filter((n) => names.has(n));
    if (!present.length) continue;
    if (KEPT_TABLES.has(table)) {
      plan.skipped.push({ table, reason: 'kept' });
      continue;
    }
    if (!IDENT.test(table) || !deletableEngine(cols[0]!.engine)) {
      plan.skipped.push({ table, reason: 'engine' });
      continue;
    }
    const account = names.get('account_id');
    if (!account || columnShape(account.type) !== 'scalar') {
      plan.skipped.push({ table, reason: 'no-account-column' });
      continue;
    }
    const ids: TargetTable['ids'] = {};
    for (const n of present) {
      const shape = columnShape(names.get(n)!.type);
      if (shape) ids[n] = shape;
    }
    if (!Object.keys(ids).length) {
      plan.skipped.push({ table, reason: 'id-column-type' });
      continue;
    }
    plan.targets.push({ table, ids });
  }
  return plan;
}

/** Parameter names used by every statement below. */
export const PARAMS = {
  account: 'account',
  person: 'person',
  visitors: 'visitors',
  sessions: 'sessions',
} as const;

function read(column: IdColumn, shape: ColumnShape): string {
  return shape === 'aggregate' ? `finalizeAggregation(\`${column}\`)` : `\`${column}\``;
}

function equals(column: IdColumn, shape: ColumnShape, param: string): string {
  return shape === 'array' ? `has(\`${column}\`, {${param}:String})` : `${read(column, shape)} = {${param}:String}`;
}

function inList(column: IdColumn, shape: ColumnShape, param: string): string {
  return shape === 'array' ? `hasAny(\`${column}\`, {${param}:Array(String)})` : `${read(column, shape)} IN {${param}:Array(String)}`;
}

/** The rows of one table that belong to the person: their person id, their visitors, their sessions. */
export function personCondition(t: TargetTable): string {
  const parts: string[] = [];
  if (t.ids.person_id) parts.push(equals('person_id', t.ids.person_id, PARAMS.person));
  if (t.ids.visitor_id) parts.push(inList('visitor_id', t.ids.visitor_id, PARAMS.visitors));
  if (t.ids.session_id) parts.push(inList('session_id', t.ids.session_id, PARAMS.sessions));
  return `account_id = {${PARAMS.account}:String} AND (${parts.join(' OR ')})`;
}

/**
 * Visitors the person owns, from every table that pairs a scalar visitor_id with a scalar
 * person_id (identity_edges with its history, events, …). Empty ids are never collected: they
 * mean "unknown" and are shared by everybody.
 */
export function visitorsQuery(targets: readonly TargetTable[]): string | undefined {
  const parts = targets
    .filter((t) => t.ids.visitor_id === 'scalar' && t.ids.person_id === 'scalar')
    .map((t) => `SELECT DISTINCT toString(visitor_id) AS id FROM \`${t.table}\` WHERE account_id = {${PARAMS.account}:String} AND person_id = {${PARAMS.person}:String} AND visitor_id != ''`);
  return parts.length ? `SELECT DISTINCT id FROM (${parts.join(' UNION ALL ')})` : undefined;
}

/** Sessions attributed to the person: any session row of theirs or of one of their visitors. */
export function sessionsQuery(targets: readonly TargetTable[]): string | undefined {
  const parts: string[] = [];
  for (const t of targets) {
    if (t.ids.session_id !== 'scalar') continue;
    const by: string[] = [];
    if (t.ids.person_id === 'scalar') by.push(`person_id = {${PARAMS.person}:String}`);
    if (t.ids.visitor_id === 'scalar') by.push(`visitor_id IN {${PARAMS.visitors}:Array(String)}`);
    if (!by.length) continue;
    parts.push(`SELECT DISTINCT toString(session_id) AS id FROM \`${t.table}\` WHERE account_id = {${PARAMS.account}:String} AND (${by.join(' OR ')}) AND session_id != ''`);
  }
  return parts.length ? `SELECT DISTINCT id FROM (${parts.join(' UNION ALL ')})` : undefined;
}

export function countSql(t: TargetTable): string {
  return `SELECT count() AS n FROM \`${t.table}\` WHERE ${personCondition(t)}`;
}

/**
 * `ALTER TABLE … DELETE`, synchronous on every replica (`mutations_sync = 2`). The cluster name
 * comes from validated config, never from a request.
 */
export function deleteSql(t: TargetTable, cluster?: string): string {
  const on = cluster ? ` ON CLUSTER \`${cluster}\`` : '';
  return `ALTER TABLE \`${t.table}\`${on} DELETE WHERE ${personCondition(t)} SETTINGS mutations_sync = 2`;
}

/** Whether a stream row (JSON of a table row) belongs to the person being erased. */
export function rowBelongs(row: Record<string, unknown>, person: string, visitors: ReadonlySet<string>, sessions: ReadonlySet<string>): boolean {
  const v = row.visitor_id;
  const p = row.person_id;
  const s = row.session_id;
  return (typeof p === 'string' && p !== '' && p === person) || (typeof v === 'string' && v !== '' && visitors.has(v)) || (typeof s === 'string' && s !== '' && sessions.has(s));
}
