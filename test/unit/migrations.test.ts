import { describe, expect, it } from 'vitest';
import { loadMigrations, renderStatement, splitStatements } from '../../src/adapters/clickhouse/migrate.js';
import { formatInsertSql, parseInsert, payloadColumns, stringLiteral } from '../../src/adapters/clickhouse/chdb-insert.js';

describe('migrations', () => {
  it('are numbered uniquely, ordered, and every CREATE is idempotent', async () => {
    const ms = await loadMigrations();
    expect(ms.length).toBeGreaterThan(0);
    const versions = ms.map((m) => m.version);
    expect([...versions].sort((a, b) => a - b)).toEqual(versions);
    for (const m of ms) for (const s of m.statements) if (/^\s*CREATE\b/i.test(s)) expect(s, `${m.name}: ${s.slice(0, 60)}`).toMatch(/IF NOT EXISTS/i);
  });

  it('splits statements on line-ending semicolons and drops comment lines', () => {
    expect(splitStatements("-- c\nCREATE A;\nCREATE B (x String DEFAULT ';');\n")).toEqual(['CREATE A', "CREATE B (x String DEFAULT ';')"]);
  });

  it('renders the cluster placeholder only when a cluster is configured', () => {
    expect(renderStatement('CREATE TABLE IF NOT EXISTS t {on_cluster} (a String)', {})).toBe('CREATE TABLE IF NOT EXISTS t  (a String)');
    expect(renderStatement('CREATE TABLE IF NOT EXISTS t {on_cluster} (a String)', { cluster: 'c1' })).toContain('ON CLUSTER `c1`');
  });
});

describe('embedded insert rewriting', () => {
  it('parses the INSERT clickhouse-js sends', () => {
    expect(parseInsert('INSERT INTO events FORMAT JSONEachRow')).toEqual({ database: undefined, table: 'events', columns: undefined, format: 'JSONEachRow' });
    expect(parseInsert('INSERT INTO db.t (a, b) FORMAT JSONEachRow')).toEqual({ database: 'db', table: 't', columns: ['a', 'b'], format: 'JSONEachRow' });
    expect(parseInsert('INSERT INTO t SELECT 1')).toBeUndefined();
    expect(parseInsert("INSERT INTO t (a'; DROP) FORMAT JSONEachRow")).toBeUndefined();
  });

  it('lists only the columns present so table defaults apply to the rest', () => {
    const p = parseInsert('INSERT INTO m FORMAT JSONEachRow')!;
    const present = payloadColumns(p, '{"version":1,"name":"x"}\n{"version":2,"name":"y"}');
    expect(present).toEqual(['version', 'name']);
    const sql = formatInsertSql(
      p,
      [
        { name: 'version', type: 'UInt32' },
        { name: 'name', type: 'String' },
        { name: 'applied_at', type: "DateTime64(3, 'UTC')" },
      ],
      present,
      "/tmp/stage/it's.jsoneachrow",
    );
    expect(sql).toBe(
      "INSERT INTO `m` (`version`, `name`) SELECT `version`, `name` FROM file('/tmp/stage/it\\'s.jsoneachrow', JSONEachRow, '`version` UInt32, `name` String')",
    );
  });

  it('writes a string literal that ends only at its closing quote', () => {
    expect(stringLiteral("a'b\\c")).toBe("'a\\'b\\\\c'");
    expect(stringLiteral("DateTime64(3, 'UTC')")).toBe("'DateTime64(3, \\'UTC\\')'");
  });
});
