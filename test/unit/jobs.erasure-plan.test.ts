import { describe, expect, it } from 'vitest';
import {
  columnShape,
  countSql,
  deleteSql,
  outsideReach,
  personCondition,
  planErasure,
  rowBelongs,
  sessionsQuery,
  stagingCreateSql,
  stagingDropSql,
  stagingInsertSql,
  stagingTable,
  visitorsQuery,
  type ColumnInfo,
} from '../../src/domain/erasure-plan.js';

function table(name: string, engine: string, cols: Record<string, string>): ColumnInfo[] {
  return Object.entries(cols).map(([n, type]) => ({ table: name, name: n, type, engine }));
}

const SCHEMA: ColumnInfo[] = [
  ...table('events', 'MergeTree', {
    account_id: 'LowCardinality(String)',
    event_id: 'UUID',
    session_id: 'String',
    visitor_id: 'String',
    person_id: 'String',
    path: 'String',
  }),
  ...table('identity_edges', 'ReplacingMergeTree', { account_id: 'LowCardinality(String)', visitor_id: 'String', person_id: 'String' }),
  ...table('sessions', 'AggregatingMergeTree', {
    account_id: 'LowCardinality(String)',
    session_id: 'String',
    visitor_id: 'String',
    person_id: 'SimpleAggregateFunction(max, String)',
  }),
  ...table('people_latest', 'AggregatingMergeTree', {
    account_id: 'LowCardinality(String)',
    visitor_id: 'String',
    person_id: "AggregateFunction(argMax, String, DateTime64(3, 'UTC'))",
  }),
  ...table('visitor_sets', 'ReplicatedAggregatingMergeTree', {
    account_id: 'String',
    person_id: 'String',
    visitor_id: 'SimpleAggregateFunction(groupUniqArrayArray, Array(String))',
  }),
  ...table('pages', 'AggregatingMergeTree', { account_id: 'LowCardinality(String)', path: 'String', session_id: 'String' }),
  ...table('sessions_mv', 'MaterializedView', { account_id: 'LowCardinality(String)', session_id: 'String' }),
  ...table('events_all', 'Distributed', { account_id: 'LowCardinality(String)', session_id: 'String' }),
  ...table('global_counts', 'SummingMergeTree', { visitor_id: 'String', n: 'UInt64' }),
  ...table('odd', 'MergeTree', { account_id: 'String', session_id: 'UUID' }),
  ...table('erasure_receipts', 'MergeTree', { account_id: 'LowCardinality(String)', job_id: 'String' }),
];

describe('erasure plan', () => {
  it('classifies column types', () => {
    expect(columnShape('String')).toBe('scalar');
    expect(columnShape('LowCardinality(Nullable(String))')).toBe('scalar');
    expect(columnShape('SimpleAggregateFunction(max, String)')).toBe('scalar');
    expect(columnShape("AggregateFunction(argMax, String, DateTime64(3, 'UTC'))")).toBe('aggregate');
    expect(columnShape('Array(String)')).toBe('array');
    expect(columnShape('UUID')).toBeUndefined();
    expect(columnShape('AggregateFunction(uniqExact, String)')).toBeUndefined();
  });

  it('targets every deletable table with an account and an id column, and says why others are left', () => {
    const plan = planErasure(SCHEMA);
    expect(plan.targets).toEqual([
      { table: 'events', ids: { visitor_id: 'scalar', person_id: 'scalar', session_id: 'scalar' } },
      { table: 'identity_edges', ids: { visitor_id: 'scalar', person_id: 'scalar' } },
      { table: 'people_latest', ids: { visitor_id: 'scalar', person_id: 'aggregate' } },
      { table: 'sessions', ids: { visitor_id: 'scalar', person_id: 'scalar', session_id: 'scalar' } },
      { table: 'visitor_sets', ids: { visitor_id: 'array', person_id: 'scalar' } },
    ]);
    expect(Object.fromEntries(plan.skipped.map((s) => [s.table, s.reason]))).toEqual({
      events_all: 'engine',
      global_counts: 'no-account-column',
      odd: 'id-column-type',
      pages: 'kept',
      sessions_mv: 'engine',
    });
  });

  it('names ids only through the staging table: the account is the one parameter of a delete', () => {
    const plan = planErasure(SCHEMA);
    const st = stagingTable('0123456789abcdef');
    expect(st).toBe('erase_ids_0123456789abcdef');
    expect(() => stagingTable('x`; DROP TABLE events')).toThrow();
    const people = plan.targets.find((t) => t.table === 'people_latest')!;
    expect(personCondition(people, st)).toBe(
      "account_id = {account:String} AND (finalizeAggregation(`person_id`) IN (SELECT id FROM `erase_ids_0123456789abcdef` WHERE kind = 'person') OR `visitor_id` IN (SELECT id FROM `erase_ids_0123456789abcdef` WHERE kind = 'visitor'))",
    );
    const sets = plan.targets.find((t) => t.table === 'visitor_sets')!;
    expect(personCondition(sets, st)).toContain("hasAny(`visitor_id`, (SELECT groupArray(id) FROM `erase_ids_0123456789abcdef` WHERE kind = 'visitor'))");
    const events = plan.targets.find((t) => t.table === 'events')!;
    expect(countSql(events, st)).toMatch(
      /^SELECT count\(\) AS n FROM `events` WHERE account_id = \{account:String\} AND \(`person_id` IN \(SELECT id FROM `erase_ids_0123456789abcdef` WHERE kind = 'person'\) OR /,
    );
    for (const t of plan.targets) {
      // The text a mutation keeps: no parameter but the account.
      expect([...deleteSql(t, st).matchAll(/\{(\w+):/g)].map((m) => m[1])).toEqual(['account']);
    }
    expect(deleteSql(events, st)).toMatch(/^ALTER TABLE `events` DELETE WHERE .* SETTINGS mutations_sync = 2$/);
    expect(deleteSql(events, st, 'c1')).toMatch(
      /^ALTER TABLE `events` ON CLUSTER `c1` DELETE .* SETTINGS mutations_sync = 2, allow_nondeterministic_mutations = 1$/,
    );
    expect(stagingCreateSql(st)).toMatch(/ENGINE = Memory$/);
    expect(stagingCreateSql(st, 'c1')).toContain('ON CLUSTER `c1`');
    expect(stagingCreateSql(st, 'c1')).toContain("ReplicatedMergeTree('/clickhouse/erasure/{database}/erase_ids_0123456789abcdef', '{shard}-{replica}')");
    expect(stagingInsertSql(st)).toBe('INSERT INTO `erase_ids_0123456789abcdef` (kind, id) SELECT {kind:String}, arrayJoin({ids:Array(String)})');
    expect(stagingDropSql(st)).toBe('DROP TABLE IF EXISTS `erase_ids_0123456789abcdef` SYNC');
    expect(() => deleteSql(events, 'events')).toThrow();
    // Visitors come only from tables pairing plain visitor and person columns; sessions from session tables.
    expect(visitorsQuery(plan.targets)!.match(/FROM `(\w+)`/g)).toEqual(['FROM `events`', 'FROM `identity_edges`', 'FROM `sessions`']);
    expect(sessionsQuery(plan.targets)!.match(/FROM `(\w+)`/g)).toEqual(['FROM `events`', 'FROM `sessions`']);
    expect(visitorsQuery([])).toBeUndefined();
  });

  it('states what lies outside its reach, logs as configured', () => {
    expect(outsideReach(false).join('\n')).toMatch(/log files the operator keeps.*pseudonyms/);
    expect(outsideReach(true).join('\n')).toMatch(/LOG_PERSON_IDS=raw/);
    expect(outsideReach(false).join('\n')).toMatch(/backups/);
  });

  it('matches stream rows by person, visitor or session, never by an empty id', () => {
    const v = new Set(['v1']);
    const s = new Set(['s1']);
    expect(rowBelongs({ person_id: 'p' }, 'p', v, s)).toBe(true);
    expect(rowBelongs({ visitor_id: 'v1', person_id: 'q' }, 'p', v, s)).toBe(true);
    expect(rowBelongs({ session_id: 's1' }, 'p', v, s)).toBe(true);
    expect(rowBelongs({ visitor_id: 'v2', person_id: '', session_id: 's2' }, 'p', v, s)).toBe(false);
    expect(rowBelongs({ visitor_id: '', person_id: '' }, 'p', new Set(['']), new Set(['']))).toBe(false);
  });
});
