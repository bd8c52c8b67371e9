/**
 * The `store` role's ClickHouse HTTP port over real chdb, attacked as a local process or a web
 * page would: without or with wrong credentials, with a foreign Host (DNS rebinding) or an
 * Origin (cross-site POST), and with valid credentials through every way to files or the
 * network that ClickHouse offers (table functions, engines, dictionaries, INTO OUTFILE, FROM
 * INFILE, settings naming files), spelled to slip past text matching. The read-only user cannot
 * write, and the service's own client keeps working through the same port.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClickHouse, type ClickHouseClient } from '../../src/adapters/clickhouse/client.js';
import { storePasswordFile } from '../../src/adapters/secrets/store-credentials.js';
import { TokenSecretStore } from '../../src/adapters/secrets/token-secret.store.js';
import {
  cleanupSql,
  deleteSql,
  PARAMS,
  stagingCreateSql,
  stagingDropSql,
  stagingInsertSql,
  stagingTable,
  type TargetTable,
} from '../../src/domain/erasure-plan.js';

import { useTestService } from '../support/fixture.js';

const t = useTestService({ env: { ROLES: 'store' } });
let port: number;
let visitorPw: string;
let grafanaPw: string;
let db: string;
let secretHex: string;
const tmpTarget = path.join(os.tmpdir(), `visitor-store-sec-${randomBytes(4).toString('hex')}`);

interface Answer {
  status: number;
  body: string;
  code?: string;
}

interface Req {
  method?: string;
  params?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
  /** `[user, password]` as basic auth. */
  auth?: [string, string];
  path?: string;
}

/** A raw HTTP request (node:http, so Host and Origin are exactly what the test says). */
function send(r: Req): Promise<Answer> {
  const qs = new URLSearchParams(r.params ?? {}).toString();
  const headers: Record<string, string> = { host: `127.0.0.1:${port}`, ...(r.headers ?? {}) };
  if (r.auth) headers.authorization = `Basic ${Buffer.from(`${r.auth[0]}:${r.auth[1]}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: r.method ?? 'POST', path: `${r.path ?? '/'}${qs ? `?${qs}` : ''}`, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, code: res.headers['x-clickhouse-exception-code'] as string | undefined }));
    });
    req.on('error', reject);
    req.end(r.body ?? '');
  });
}

const asVisitor = (sql: string, extra: Req = {}) =>
  send({ body: sql, auth: ['visitor', visitorPw], ...extra, params: { database: db, ...(extra.params ?? {}) } });
const asGrafana = (sql: string, extra: Req = {}) =>
  send({ body: sql, auth: ['grafana', grafanaPw], ...extra, params: { database: db, ...(extra.params ?? {}) } });

beforeAll(async () => {
  const url = new URL(t.service.storeUrl!);
  port = Number(url.port);
  visitorPw = url.password;
  grafanaPw = readFileSync(storePasswordFile(t.dataDir, 'grafana'), 'utf8').trim();
  db = t.config.CLICKHOUSE_DATABASE;
  // The secret an attacker read through file() to forge a visitor token.
  secretHex = (await new TokenSecretStore(t.dataDir).get(t.account.id)).current.toString('hex');
  expect((await asVisitor('CREATE TABLE sec_t (line String) ENGINE = MergeTree ORDER BY tuple()')).status).toBe(200);
}, 60_000);

describe('store port: credentials', () => {
  it('prints a CLICKHOUSE_URL that carries the visitor password, kept 0600 under DATA_DIR/credentials, and never logs it', () => {
    expect(t.service.storeUrl).toMatch(/^http:\/\/visitor:[0-9a-f]{64}@127\.0\.0\.1:\d+$/);
    for (const user of ['visitor', 'grafana'] as const) {
      const file = storePasswordFile(t.dataDir, user);
      expect(file.startsWith(path.join(t.dataDir, 'credentials'))).toBe(true);
      expect(statSync(file).mode & 0o777).toBe(0o600);
    }
    expect(readFileSync(storePasswordFile(t.dataDir, 'visitor'), 'utf8').trim()).toBe(visitorPw);
    expect(grafanaPw).toMatch(/^[0-9a-f]{64}$/);
    expect(grafanaPw).not.toBe(visitorPw);
    const logText = readFileSync(t.logFile, 'utf8');
    expect(logText).not.toContain(visitorPw);
    expect(logText).not.toContain(grafanaPw);
  });

  it('refuses a query without credentials or with a wrong one: 401, ClickHouse code 516', async () => {
    const attempts: Req[] = [
      { body: 'SELECT 1' },
      { body: 'SELECT 1', auth: ['visitor', 'wrong'] as [string, string] },
      { body: 'SELECT 1', auth: ['visitor', grafanaPw] as [string, string] },
      { body: 'SELECT 1', auth: ['default', ''] as [string, string] },
      { body: 'SELECT 1', headers: { 'x-clickhouse-user': 'visitor', 'x-clickhouse-key': 'nope' } },
      { body: 'SELECT 1', params: { user: 'grafana', password: visitorPw } },
      { method: 'GET', params: { query: 'SELECT 1' } },
    ];
    for (const r of attempts) {
      const a = await send(r);
      expect(a.status, JSON.stringify(r)).toBe(401);
      expect(a.code).toBe('516');
      expect(a.body).toMatch(/^Code: 516\. DB::Exception: .*Authentication failed.*\(AUTHENTICATION_FAILED\)/);
    }
  });

  it('accepts ClickHouse’s three ways to authenticate', async () => {
    const ways: Req[] = [
      { auth: ['visitor', visitorPw] },
      { headers: { 'x-clickhouse-user': 'visitor', 'x-clickhouse-key': visitorPw } },
      { params: { user: 'visitor', password: visitorPw } },
      { auth: ['grafana', grafanaPw] },
    ];
    for (const w of ways) expect(await send({ body: 'SELECT 1', ...w })).toMatchObject({ status: 200, body: '1\n' });
  });

  it('keeps /ping open for health checks (it answers only "Ok.")', async () => {
    expect(await send({ method: 'GET', path: '/ping' })).toMatchObject({ status: 200, body: 'Ok.\n' });
  });
});

describe('store port: only loopback, never a browser', () => {
  it('refuses a foreign Host (DNS rebinding), even with valid credentials and on /ping', async () => {
    for (const host of [
      'evil.example',
      `evil.example:${port}`,
      `127.0.0.1.evil.example:${port}`,
      'localhost.evil.example',
      '0.0.0.0',
      `[::ffff:7f00:1]:${port}`,
    ]) {
      for (const r of [
        { body: 'SELECT 1', auth: ['visitor', visitorPw] as [string, string] },
        { method: 'GET', path: '/ping' },
      ]) {
        const a = await send({ ...r, headers: { host } });
        expect(a.status, host).toBe(403);
        expect(a.body).toMatch(/ACCESS_DENIED/);
      }
    }
    for (const host of [`localhost:${port}`, 'localhost', `127.0.0.1:${port}`, '127.1.2.3', `[::1]:${port}`, 'LOCALHOST']) {
      expect((await send({ body: 'SELECT 1', auth: ['visitor', visitorPw], headers: { host } })).status, host).toBe(200);
    }
  });

  it('refuses any request with an Origin (cross-site POST) or a browser’s Sec-Fetch-Site', async () => {
    const browserHeaders: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { origin: `http://127.0.0.1:${port}` },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ];
    for (const headers of browserHeaders) {
      const a = await send({ body: 'SELECT 1', auth: ['visitor', visitorPw], headers, params: { database: db } });
      expect(a.status, JSON.stringify(headers)).toBe(403);
      expect(a.code).toBe('497');
    }
    // A form POST (text/plain, credentials in the query string) from a page is refused the same way.
    const form = await send({
      body: 'INSERT INTO sec_t SELECT 1',
      params: { user: 'visitor', password: visitorPw, database: db },
      headers: { origin: 'https://evil.example', 'content-type': 'text/plain' },
    });
    expect(form.status).toBe(403);
  });
});

/** Statements that reach files, programs or the network; each refused with valid credentials. */
function escapes(): string[] {
  const secretFile = new TokenSecretStore(t.dataDir).file(t.account.id);
  return [
    "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "select * from FILE('/etc/passwd', 'LineAsString')",
    "SELECT * FROM /* hi */ `file` /* there */ ('/etc/passwd', 'LineAsString')",
    "SELECT * FROM \"FiLe\"('/etc/passwd', 'LineAsString')",
    "SELECT * FROM file(\n-- a comment with 'quotes'\n'/etc/passwd', 'LineAsString')",
    "SELECT * FROM file('/etc/\\x70asswd', 'LineAsString')",
    `SELECT * FROM file('${secretFile}', 'LineAsString')`,
    "SELECT file('/etc/passwd')",
    "SELECT FILE('/etc/passwd') AS x",
    "WITH x AS (SELECT * FROM file('/etc/passwd', 'LineAsString')) SELECT * FROM x",
    "WITH (SELECT any(line) FROM file('/etc/passwd', 'LineAsString')) AS l SELECT l",
    "SELECT (SELECT any(line) FROM file('/etc/passwd', 'LineAsString'))",
    "SELECT 1 WHERE 'root' IN (SELECT line FROM file('/etc/passwd', 'LineAsString'))",
    "SELECT * FROM system.one AS a JOIN file('/etc/passwd', 'LineAsString') AS b ON 1",
    "SELECT * FROM view(SELECT * FROM file('/etc/passwd', 'LineAsString'))",
    "SELECT * FROM numbers(1) UNION ALL SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "SELECT * FROM file('/etc/passwd', 'LineAsString') SETTINGS max_threads = 1 FORMAT JSONEachRow",
    "DESCRIBE file('/etc/passwd', 'LineAsString')",
    "EXPLAIN SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "SELECT 1; SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "SELECT 1;\nSELECT line FROM file('/etc/passwd', 'LineAsString')",
    "SELECT * FROM fileCluster('default', '/etc/passwd', 'LineAsString')",
    "INSERT INTO sec_t SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "INSERT INTO sec_t (line) SELECT line FROM file('/etc/passwd', 'LineAsString')",
    `INSERT INTO FUNCTION file('${tmpTarget}-fn', 'LineAsString') SELECT 'x'`,
    "CREATE TABLE sec_f (line String) ENGINE = File(LineAsString, '/etc/passwd')",
    "CREATE TABLE sec_f2 AS file('/etc/passwd', 'LineAsString')",
    "CREATE TABLE sec_f3 ENGINE = Memory AS SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "CREATE VIEW sec_v AS SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "CREATE MATERIALIZED VIEW sec_mv TO sec_t AS SELECT line FROM file('/etc/passwd', 'LineAsString')",
    "CREATE TABLE sec_u (line String) ENGINE = URL('http://127.0.0.1:1/x', LineAsString)",
    "CREATE TABLE sec_e (line String) ENGINE = Executable('cat /etc/passwd', LineAsString)",
    "CREATE TABLE sec_d (line String) ENGINE = MergeTree ORDER BY tuple() SETTINGS disk = disk(type = 'local', path = '/tmp/visitor-store-sec-disk/')",
    "CREATE DICTIONARY sec_dict (line String) PRIMARY KEY line SOURCE(FILE(path '/etc/passwd' format 'LineAsString')) LAYOUT(FLAT()) LIFETIME(0)",
    "CREATE DICTIONARY sec_dict2 (line String) PRIMARY KEY line SOURCE(EXECUTABLE(command 'cat /etc/passwd' format 'LineAsString')) LAYOUT(FLAT()) LIFETIME(0)",
    "CREATE DATABASE sec_fs ENGINE = Filesystem('/etc')",
    "ATTACH TABLE sec_at FROM '/etc' (line String) ENGINE = MergeTree ORDER BY tuple()",
    "SELECT * FROM url('http://127.0.0.1:1/x', 'LineAsString')",
    "SELECT * FROM remote('127.0.0.1', system.one)",
    "SELECT * FROM remoteSecure('127.0.0.1', system.one)",
    "SELECT * FROM cluster('default', system.one)",
    "SELECT * FROM s3('http://127.0.0.1:1/b/k', 'LineAsString')",
    "SELECT * FROM hdfs('hdfs://127.0.0.1:1/x', 'LineAsString')",
    "SELECT * FROM azureBlobStorage('http://127.0.0.1:1', 'c', 'b', 'LineAsString')",
    "SELECT * FROM mysql('127.0.0.1:1', 'd', 't', 'u', 'p')",
    "SELECT * FROM postgresql('127.0.0.1:1', 'd', 't', 'u', 'p')",
    "SELECT * FROM jdbc('jdbc:x', 't')",
    "SELECT * FROM odbc('DSN=x', 't')",
    "SELECT * FROM sqlite('/etc/passwd', 't')",
    "SELECT * FROM executable('cat /etc/passwd', 'LineAsString', 'line String')",
    "SELECT * FROM input('line String')",
    "SELECT * FROM icebergLocal('/etc')",
    `SELECT 'x' INTO OUTFILE '${tmpTarget}-out'`,
    `SELECT 'x' INTO OUTFILE '${tmpTarget}-out2' TRUNCATE FORMAT CSV`,
    "INSERT INTO sec_t FROM INFILE '/etc/passwd' FORMAT LineAsString",
    "INSERT INTO sec_t VALUES (file('/etc/passwd'))",
    `BACKUP TABLE sec_t TO File('${tmpTarget}-backup')`,
    "SELECT * FROM format(Template, 'x') SETTINGS format_template_row = '/etc/passwd'",
    "SELECT 1 SETTINGS `format_schema` = '/etc/passwd:x'",
    "SELECT 1 SETTINGS max_threads = 1, input_format_record_errors_file_path = '/tmp/x'",
    'SET max_threads = 1',
    'USE system',
    'SYSTEM FLUSH LOGS',
    'SYSTEM SHUTDOWN',
    'SYSTEM RELOAD CONFIG',
    'SYSTEM DROP FILESYSTEM CACHE',
    "CREATE USER sec_u IDENTIFIED BY 'x'",
    'GRANT ALL ON *.* TO default',
  ];
}

/** Refused by the guard (497 ACCESS_DENIED, 164 READONLY) or by ClickHouse's parser (62: more than one statement). */
function expectRefused(a: Answer, sql: string): void {
  expect(a.status, `${sql}\n→ ${a.status} ${a.body}`).not.toBe(200);
  expect(['497', '164', '62'], `${sql}\n→ ${a.body}`).toContain(a.code);
  expect(a.body).not.toContain('root:');
  expect(a.body).not.toContain(secretHex);
}

describe('store port: no way to files or the network, even with valid credentials', () => {
  it("refuses SELECT * FROM file('/etc/passwd', 'LineAsString') for both users", async () => {
    for (const a of [
      await asVisitor("SELECT * FROM file('/etc/passwd', 'LineAsString')"),
      await asGrafana("SELECT * FROM file('/etc/passwd', 'LineAsString')"),
    ]) {
      expect(a.status).toBe(403);
      expect(a.code).toBe('497');
      expect(a.body).toMatch(/^Code: 497\. DB::Exception: file .*not allowed through the store port.*\(ACCESS_DENIED\)/);
    }
  });

  it('refuses every spelling and every other way (table functions, engines, dictionaries, OUTFILE/INFILE, file settings)', async () => {
    const allowed: string[] = [];
    for (const sql of escapes()) {
      for (const a of [await asVisitor(sql), await asVisitor('', { params: { query: sql } }), await asGrafana(sql)]) {
        expectRefused(a, sql);
        if (a.status === 200) allowed.push(sql);
      }
    }
    expect(allowed).toEqual([]);
    // Nothing was written or created on the way.
    for (const f of ['-fn', '-out', '-out2', '-backup']) expect(existsSync(`${tmpTarget}${f}`)).toBe(false);
    expect(existsSync('/tmp/visitor-store-sec-disk')).toBe(false);
    const tables = await asVisitor("SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'sec%' ORDER BY name");
    expect(tables.body).toBe('sec_t\n');
    expect((await asVisitor("SELECT count() FROM system.databases WHERE name = 'sec_fs'")).body).toBe('0\n');
    expect((await asVisitor('SELECT count() FROM sec_t')).body).toBe('0\n');
  }, 120_000);

  it('refuses the query split between the query parameter and the body', async () => {
    const a = await send({ auth: ['visitor', visitorPw], params: { database: db, query: 'SELECT * FROM' }, body: "file('/etc/passwd', 'LineAsString')" });
    expectRefused(a, 'split');
  });

  it('refuses settings that name files in URL parameters, and a Values body that would evaluate file()', async () => {
    const urlSettings: Record<string, string>[] = [
      { format_schema: '/etc/passwd:x' },
      { format_template_row: '/etc/passwd' },
      { output_format_schema: '/tmp/x' },
      { readonly: '0' },
      { 'bad name': '1' },
    ];
    for (const params of urlSettings) {
      const a = await asVisitor('SELECT 1', { params });
      expect(a.status, JSON.stringify(params)).toBeGreaterThanOrEqual(400);
    }
    const values = await asVisitor("(file('/etc/passwd'))", { params: { query: 'INSERT INTO sec_t FORMAT Values' } });
    expect(values.status).toBe(403);
    expect((await asVisitor('SELECT count() FROM sec_t')).body).toBe('0\n');
  });

  it('keeps a URL setting to its own request (no SET reaches the next one)', async () => {
    const tight = await asGrafana('SELECT number FROM numbers(5)', { params: { max_result_rows: '1', result_overflow_mode: 'throw' } });
    expect(tight.status).toBe(500);
    expect(tight.body).toMatch(/TOO_MANY_ROWS_OR_BYTES|Limit for result exceeded/);
    expect(await asVisitor('SELECT count() FROM numbers(5)')).toMatchObject({ status: 200, body: '5\n' });
    expect(await asVisitor("SELECT getSetting('max_result_rows'), getSetting('readonly')")).toMatchObject({ status: 200, body: '0\t0\n' });
  });
});

describe('store port: the read-only user', () => {
  it('reads, with settings such as max_execution_time as Grafana’s data source sends them', async () => {
    expect(await asGrafana('SELECT count() FROM sec_t', { params: { max_execution_time: '30' } })).toMatchObject({ status: 200, body: '0\n' });
    expect((await asGrafana('SHOW TABLES')).body).toContain('events');
    expect((await asGrafana('DESCRIBE TABLE events')).status).toBe(200);
    expect((await asGrafana('EXISTS TABLE events')).body).toBe('1\n');
  });

  it('cannot INSERT, ALTER, DROP, CREATE or lift read-only mode', async () => {
    for (const sql of [
      "INSERT INTO sec_t SELECT 'x'",
      'ALTER TABLE sec_t DELETE WHERE 1',
      'DROP TABLE sec_t',
      'TRUNCATE TABLE sec_t',
      'CREATE TABLE sec_g (a Int8) ENGINE = Memory',
      'RENAME TABLE sec_t TO sec_t2',
      'OPTIMIZE TABLE sec_t FINAL',
      'SYSTEM START CLEANUP sec_t',
      'KILL MUTATION WHERE 1',
      'SELECT 1 SETTINGS readonly = 0',
    ]) {
      const a = await asGrafana(sql);
      expect(a.status, `${sql} → ${a.body}`).toBe(403);
      expect(a.body).toMatch(/READONLY|ACCESS_DENIED/);
    }
    const body = await send({ auth: ['grafana', grafanaPw], params: { database: db, query: 'INSERT INTO sec_t FORMAT JSONEachRow' }, body: '{"line":"x"}\n' });
    expect(body.status).toBe(403);
    expect(body.code).toBe('164');
    // A GET is read-only for the service's user too, as in ClickHouse.
    expect((await send({ method: 'GET', auth: ['visitor', visitorPw], params: { database: db, query: 'DROP TABLE sec_t' } })).status).toBe(403);
    expect((await asVisitor('EXISTS TABLE sec_t')).body).toBe('1\n');
    expect((await asVisitor('SELECT count() FROM sec_t')).body).toBe('0\n');
  });
});

describe('store port: the service’s own client', () => {
  let ch: ClickHouseClient;
  beforeAll(async () => {
    ch = await createClickHouse({ url: t.service.storeUrl, dataPath: '', database: db });
  });
  afterAll(async () => {
    await ch?.close();
  });

  it('works through the printed URL: staged inserts, parameterised queries, DDL and mutations', async () => {
    await ch.insert({ table: 'sec_t', values: [{ line: 'a' }, { line: 'b' }, { line: "c'; DROP TABLE sec_t; --" }], format: 'JSONEachRow' });
    const rs = await ch.query({
      query: 'SELECT count() AS n FROM sec_t WHERE line != {skip:String}',
      query_params: { skip: 'b' },
      format: 'JSONEachRow',
      clickhouse_settings: { max_execution_time: 5 },
    });
    expect((await rs.json<{ n: string }>()).map((r) => Number(r.n))).toEqual([2]);
    await ch.command({ query: 'CREATE TABLE IF NOT EXISTS sec_t2 (a UInt32) ENGINE = MergeTree ORDER BY a SETTINGS index_granularity = 1024' });
    await ch.command({ query: 'INSERT INTO sec_t2 SELECT number FROM numbers(10)' });
    await ch.command({ query: 'ALTER TABLE sec_t2 DELETE WHERE a < {n:UInt32} SETTINGS mutations_sync = 2', query_params: { n: 5 } });
    const left = await (await ch.query({ query: 'SELECT count() AS n FROM sec_t2', format: 'JSONEachRow' })).json<{ n: string }>();
    expect(Number(left[0]!.n)).toBe(5);
    // What the erasure job runs besides its mutations: kill its own leftovers, clean old parts.
    await ch.command({
      query: 'KILL MUTATION WHERE database = currentDatabase() AND is_done = 0 AND position(command, {s:String}) > 0 SYNC',
      query_params: { s: 'sec_none' },
    });
    await ch.command({ query: 'SYSTEM START CLEANUP `sec_t2`' });
    await ch.command({ query: 'DROP TABLE sec_t2' });
    await ch.command({ query: 'ALTER TABLE sec_t DELETE WHERE 1 SETTINGS mutations_sync = 2' });
  });

  it('takes the three insert flags from the URL as 0/1 only, and no other setting for an insert', async () => {
    // A ReplacingMergeTree merges equal keys inside one insert unless optimize_on_insert = 0: the
    // row count shows which setting the insert ran with.
    await ch.command({ query: 'CREATE TABLE IF NOT EXISTS sec_r (k UInt8, v UInt8) ENGINE = ReplacingMergeTree ORDER BY k' });
    const rowsAfter = async (settings: Record<string, string | number>) => {
      await ch.command({ query: 'TRUNCATE TABLE sec_r' });
      await ch.insert({
        table: 'sec_r',
        values: [
          { k: 1, v: 1 },
          { k: 1, v: 2 },
        ],
        format: 'JSONEachRow',
        clickhouse_settings: settings,
      });
      const r = await (await ch.query({ query: 'SELECT count() AS n FROM sec_r', format: 'JSONEachRow' })).json<{ n: string }>();
      return Number(r[0]!.n);
    };
    expect(await rowsAfter({})).toBe(1);
    expect(await rowsAfter({ optimize_on_insert: 0 })).toBe(2);
    expect(await rowsAfter({ optimize_on_insert: 1 })).toBe(1);
    // Not a 0/1 flag: ignored, so the insert merges as by default.
    expect(await rowsAfter({ optimize_on_insert: '0; DROP TABLE sec_r' })).toBe(1);
    await ch.command({ query: 'DROP TABLE sec_r' });
  });

  it('runs the erasure job’s statements (staging table, mutation by name, cleanup) through the port', async () => {
    const staging = stagingTable(randomBytes(8).toString('hex'));
    const events: TargetTable = { table: 'events', ids: { person_id: 'scalar', visitor_id: 'scalar', session_id: 'scalar' } };
    await ch.command({ query: stagingCreateSql(staging) });
    await ch.command({ query: stagingInsertSql(staging), query_params: { [PARAMS.kind]: 'person', [PARAMS.ids]: ['p-sec'] } });
    await ch.command({ query: deleteSql(events, staging), query_params: { [PARAMS.account]: t.account.id } });
    await ch.command({ query: cleanupSql(events) });
    await ch.command({ query: stagingDropSql(staging) });
    expect(await (await ch.query({ query: `EXISTS TABLE ${staging}`, format: 'TabSeparated' })).text()).toBe('0\n');
  });

  it('is refused without the credential in the URL', async () => {
    const bare = new URL(t.service.storeUrl!);
    bare.username = '';
    bare.password = '';
    await expect(createClickHouse({ url: bare.toString(), dataPath: '', database: db })).rejects.toThrow(/AUTHENTICATION_FAILED|Authentication failed/);
  });
});
