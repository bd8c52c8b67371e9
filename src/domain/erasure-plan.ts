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
  kind: 'kind',
  ids: 'ids',
} as const;

/**
 * The ids of one erasure live in a staging table of the service database, named at random per
 * job, and the mutations read them from there by name. A mutation's command is kept as text
 * (`system.mutations`, `mutation_N.txt` in the table's directory) with its query parameters
 * already substituted, so ids passed as parameters would stay on disk after their rows are gone;
 * a table name and the account id are all these commands hold.
 */
export const STAGING_PREFIX = 'erase_ids_';
const STAGING_RE = /^erase_ids_[0-9a-f]{16}$/;

/** Kinds of ids in the staging table (its `kind` column). */
export type StagedKind = 'person' | 'visitor' | 'session';

/** A staging table name from 8 random bytes (hex): nothing personal, nothing guessable. */
export function stagingTable(randomHex: string): string {
  const name = `${STAGING_PREFIX}${randomHex}`;
  if (!STAGING_RE.test(name)) throw new Error('staging table name needs 16 lowercase hex digits');
  return name;
}

function staged(staging: string): string {
  if (!STAGING_RE.test(staging)) throw new Error(`not a staging table name: ${staging}`);
  return `\`${staging}\``;
}

/**
 * The staging table. Single server or embedded: `Memory`, so the ids never reach a file (a
 * restart empties it; a mutation left pending then matches nothing, harmlessly). Cluster: every
 * node's mutation reads its own copy, so it is one replicated table across the whole cluster
 * (`{shard}-{replica}` names each node once), waited for with `SYSTEM SYNC REPLICA`.
 */
export function stagingCreateSql(staging: string, cluster?: string): string {
  const cols = `(kind Enum8('person' = 1, 'visitor' = 2, 'session' = 3), id String)`;
  if (!cluster) return `CREATE TABLE IF NOT EXISTS ${staged(staging)} ${cols} ENGINE = Memory`;
  return `CREATE TABLE IF NOT EXISTS ${staged(staging)} ON CLUSTER \`${cluster}\` ${cols} ENGINE = ReplicatedMergeTree('/clickhouse/erasure/{database}/${staging}', '{shard}-{replica}') ORDER BY (kind, id)`;
}

/** Insert ids of one kind (`{kind:String}`, `{ids:Array(String)}`). */
export function stagingInsertSql(staging: string): string {
  return `INSERT INTO ${staged(staging)} (kind, id) SELECT {${PARAMS.kind}:String}, arrayJoin({${PARAMS.ids}:Array(String)})`;
}

/** On a cluster: wait until every node holds all staged ids. */
export function stagingSyncSql(staging: string, cluster: string): string {
  return `SYSTEM SYNC REPLICA ${staged(staging)} ON CLUSTER \`${cluster}\``;
}

/** `SYNC`: the table's files go now, not after the Atomic database's drop delay. */
export function stagingDropSql(staging: string, cluster?: string): string {
  return `DROP TABLE IF EXISTS ${staged(staging)}${cluster ? ` ON CLUSTER \`${cluster}\`` : ''} SYNC`;
}

/** Staging tables a crashed job left behind (no job runs for six hours), to drop. */
export const STALE_STAGING_SQL = `SELECT name FROM system.tables
  WHERE database = currentDatabase() AND startsWith(name, '${STAGING_PREFIX}') AND metadata_modification_time < now() - INTERVAL 6 HOUR`;

function read(column: IdColumn, shape: ColumnShape): string {
  return shape === 'aggregate' ? `finalizeAggregation(\`${column}\`)` : `\`${column}\``;
}

function ofKind(staging: string, kind: StagedKind): string {
  return `(SELECT id FROM ${staged(staging)} WHERE kind = '${kind}')`;
}

function inStaged(column: IdColumn, shape: ColumnShape, staging: string, kind: StagedKind): string {
  if (shape === 'array') return `hasAny(\`${column}\`, (SELECT groupArray(id) FROM ${staged(staging)} WHERE kind = '${kind}'))`;
  return `${read(column, shape)} IN ${ofKind(staging, kind)}`;
}

/**
 * The rows of one table that belong to the person: their person id, their visitors, their
 * sessions, all read from the staging table. Only the account travels as a parameter.
 */
export function personCondition(t: TargetTable, staging: string): string {
  const parts: string[] = [];
  if (t.ids.person_id) parts.push(inStaged('person_id', t.ids.person_id, staging, 'person'));
  if (t.ids.visitor_id) parts.push(inStaged('visitor_id', t.ids.visitor_id, staging, 'visitor'));
  if (t.ids.session_id) parts.push(inStaged('session_id', t.ids.session_id, staging, 'session'));
  return `account_id = {${PARAMS.account}:String} AND (${parts.join(' OR ')})`;
}

/**
 * Visitors the person owns, from every table that pairs a scalar visitor_id with a scalar
 * person_id (identity_edges with its history, events, …). Empty ids are never collected: they
 * mean "unknown" and are shared by everybody. A plain query (not kept anywhere), so the ids
 * travel as parameters.
 */
export function visitorsQuery(targets: readonly TargetTable[]): string | undefined {
  const parts = targets
    .filter((t) => t.ids.visitor_id === 'scalar' && t.ids.person_id === 'scalar')
    .map(
      (t) =>
        `SELECT DISTINCT toString(visitor_id) AS id FROM \`${t.table}\` WHERE account_id = {${PARAMS.account}:String} AND person_id = {${PARAMS.person}:String} AND visitor_id != ''`,
    );
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
    parts.push(
      `SELECT DISTINCT toString(session_id) AS id FROM \`${t.table}\` WHERE account_id = {${PARAMS.account}:String} AND (${by.join(' OR ')}) AND session_id != ''`,
    );
  }
  return parts.length ? `SELECT DISTINCT id FROM (${parts.join(' UNION ALL ')})` : undefined;
}

export function countSql(t: TargetTable, staging: string): string {
  return `SELECT count() AS n FROM \`${t.table}\` WHERE ${personCondition(t, staging)}`;
}

/**
 * `ALTER TABLE … DELETE` (not the lightweight `DELETE FROM`, which only masks rows until a later
 * merge: this rewrites every part that holds them), synchronous on every replica
 * (`mutations_sync = 2`). Replicated tables treat a subquery as non-deterministic; every replica
 * reads the same synced staging table, so it is allowed there. The cluster name comes from
 * validated config, never from a request.
 */
export function deleteSql(t: TargetTable, staging: string, cluster?: string): string {
  const on = cluster ? ` ON CLUSTER \`${cluster}\`` : '';
  const settings = cluster ? 'mutations_sync = 2, allow_nondeterministic_mutations = 1' : 'mutations_sync = 2';
  return `ALTER TABLE \`${t.table}\`${on} DELETE WHERE ${personCondition(t, staging)} SETTINGS ${settings}`;
}

/**
 * Run the table's cleanup now: outdated parts past `old_parts_lifetime` are removed and finished
 * mutations trimmed to `finished_mutations_to_keep` (migration 0060 keeps both short). A server
 * runs this by itself every few seconds; the embedded engine (clickhouse-local) has no cleanup
 * thread of its own and removes nothing until asked.
 */
export function cleanupSql(t: TargetTable): string {
  return `SYSTEM START CLEANUP \`${t.table}\``;
}

/**
 * Outdated parts of these tables that stopped being active at or before `{until:DateTime}` (the
 * end of the last mutation): the rewritten parts that held the person's rows are among them
 * until removed from disk.
 */
export const OLD_PARTS_SQL = `SELECT count() AS n FROM system.parts
  WHERE database = currentDatabase() AND table IN {tables:Array(String)} AND NOT active AND remove_time <= {until:DateTime}`;

/** Whether a stream row (JSON of a table row) belongs to the person being erased. */
export function rowBelongs(row: Record<string, unknown>, person: string, visitors: ReadonlySet<string>, sessions: ReadonlySet<string>): boolean {
  const v = row.visitor_id;
  const p = row.person_id;
  const s = row.session_id;
  return (
    (typeof p === 'string' && p !== '' && p === person) ||
    (typeof v === 'string' && v !== '' && visitors.has(v)) ||
    (typeof s === 'string' && s !== '' && sessions.has(s))
  );
}

/**
 * What an erasure cannot reach, as its receipt states it. `rawLogIds`: log lines name persons
 * and visitors by their ids (`LOG_PERSON_IDS=raw`) rather than by keyed pseudonyms.
 */
export function outsideReach(rawLogIds: boolean): string[] {
  return [
    rawLogIds
      ? 'log files the operator keeps: lines written before the erasure name the person and their visitors (LOG_PERSON_IDS=raw)'
      : 'log files the operator keeps: lines written before the erasure carry keyed pseudonyms (ps_…, vs_…), not ids',
    'backups and copies made before the erasure: of DATA_DIR, of ClickHouse, Redis snapshots and replicas',
    'bytes of deleted files on the disk until the filesystem reuses their blocks',
  ];
}
