import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { Logger } from '../logger.js';
import { EmbeddedInserter, onOwnConnection, parseInsert, stringLiteral } from '../adapters/clickhouse/chdb-insert.js';
import type { StoreCredentials } from '../adapters/secrets/store-credentials.js';
import { authenticate, checkRequestSource } from './store-access.js';
import { StoreError, statusFor, storeError } from './store-errors.js';
import { checkSettingName, SqlGuard, type StoreAccess } from './sql-guard.js';

/** The slice of a chdb connection the store serves with (raw SQL in, raw bytes out). */
export interface RawSqlEngine {
  exec(params: {
    query: string;
    query_params?: Record<string, unknown>;
    clickhouse_settings?: Record<string, unknown>;
  }): Promise<{ stream: NodeJS.ReadableStream; summary?: unknown }>;
  close(): Promise<void>;
}

export interface StoreServerOptions {
  /**
   * Opens a chdb session on the store's data path. One is kept for the store's own statements;
   * each client query gets a fresh one, closed after it, because chdb keeps `SET` and `USE` for
   * the life of a session and one client's settings (or read-only mode) must not reach the next.
   */
  open: () => RawSqlEngine;
  credentials: StoreCredentials;
  log: Logger;
  host: string;
  port: number;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** URL parameters that are part of the protocol, not settings to forward. */
const PROTOCOL_PARAMS = new Set([
  'query',
  'database',
  'default_format',
  'query_id',
  'user',
  'password',
  'session_id',
  'session_timeout',
  'session_check',
  'compress',
  'decompress',
  'buffer_size',
]);
/** Settings of ClickHouse's HTTP layer that the embedded engine does not know. */
const HTTP_ONLY = /^(?:http_\w+|wait_end_of_query|send_progress_in_http_headers|enable_http_compression|cancel_http_readonly_queries_on_client_close)$/;
/**
 * Row formats a client INSERT body may use. Not `Values` (it evaluates expressions, `file()`
 * included), nor formats that read schema or template files.
 */
const INSERT_FORMATS =
  /^(?:JSON(?:Compact|Strings|CompactStrings)?EachRow(?:WithNames(?:AndTypes)?)?|JSONLines|NDJSON|CSV(?:WithNames(?:AndTypes)?)?|TSV(?:Raw)?(?:WithNames(?:AndTypes)?)?|TabSeparated(?:Raw)?(?:WithNames(?:AndTypes)?)?|RowBinary(?:WithNames(?:AndTypes)?|WithDefaults)?|Native)$/i;

interface ClickHouseLikeError {
  message: string;
  code?: string | number;
  /** ClickHouseError's exception name (TIMEOUT_EXCEEDED, …), parsed off chdb's message. */
  type?: string;
}

function errorCode(err: ClickHouseLikeError): number {
  const n = Number(err.code);
  if (Number.isFinite(n) && n > 0) return n;
  const m = /Code: (\d+)/.exec(err.message);
  return m ? Number(m[1]) : 1000;
}

async function readAll(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = Buffer.concat(chunks);
  return req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
}

/**
 * Settings of how an INSERT is carried out that a client may ask for in the URL (the flusher
 * does), as 0/1 flags; any other URL setting is ignored for an insert, as before.
 */
const INSERT_FLAGS = new Set(['parallel_view_processing', 'optimize_on_insert', 'input_format_parallel_parsing']);

function insertSettings(params: URLSearchParams): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of params) if (INSERT_FLAGS.has(k) && (v === '0' || v === '1')) out[k] = Number(v);
  return out;
}

/** `SET name = value` for a setting from the URL; the value travels as a quoted, escaped literal. */
function setStatement(name: string, value: string): string {
  if (/^-?\d+(\.\d+)?$/.test(value)) return `SET ${name} = ${value}`;
  return `SET ${name} = ${stringLiteral(value)}`;
}

/**
 * ClickHouse's own HTTP interface, served from the process that owns the chdb data path
 * (chdb allows one process per path): other gateways, workers and Grafana reach the embedded
 * store through `CLICKHOUSE_URL` exactly as they would reach a ClickHouse server. Closed by
 * default: loopback `Host` only, no browsers, a password per user, and through {@link SqlGuard}
 * no table function, engine or clause that reaches files, programs or the network.
 */
export async function startStoreServer(opts: StoreServerOptions): Promise<http.Server & { boundPort: number }> {
  const { log, credentials } = opts;
  const own = opts.open();
  const text = async (query: string, params: Record<string, unknown>) => {
    const r = await own.exec({ query, query_params: Object.keys(params).length ? params : undefined, clickhouse_settings: { default_format: 'JSONEachRow' } });
    let out = '';
    for await (const c of r.stream) out += c.toString();
    return out;
  };
  const guard = await SqlGuard.create(text);
  // Inserts are staged and read with file(), the one place file() runs, on a path the store
  // chose; each on a session of its own (two may be in flight).
  const inserter = new EmbeddedInserter({
    query: text,
    insert: (sql) => onOwnConnection(opts.open, async (session) => void (await session.exec({ query: sql }))),
  });

  const answer = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    checkRequestSource(req.headers);
    const url = new URL(req.url ?? '/', 'http://store');
    // Open like ClickHouse's own: health checks carry no credentials, and "Ok." tells nothing.
    if (url.pathname === '/ping' || (url.pathname === '/' && req.method === 'GET' && !url.searchParams.has('query'))) {
      res.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
      return;
    }
    if (url.pathname !== '/') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('There is no handle ' + url.pathname + '\n');
      return;
    }
    const user = authenticate(req.headers, url.searchParams, credentials);
    if (req.method !== 'GET' && req.method !== 'POST') throw storeError(1, 'UNSUPPORTED_METHOD', `method ${req.method} is not supported`);
    const access: StoreAccess = user === 'grafana' || req.method === 'GET' ? 'read' : 'full';
    const raw = req.method === 'POST' ? await readAll(req) : Buffer.alloc(0);
    const q = url.searchParams.get('query');
    // An INSERT's rows stay bytes: they go to the staging file without being decoded.
    const insert = q !== null && raw.length ? parseInsert(q) : undefined;
    const body = insert ? '' : raw.toString('utf8');
    const sql = q !== null ? (body ? `${q}\n${body}` : q) : body;
    if (!insert && !sql.trim()) throw storeError(62, 'SYNTAX_ERROR', 'Empty query');
    const database = url.searchParams.get('database') ?? req.headers['x-clickhouse-database']?.toString();
    if (database && !IDENT.test(database)) throw storeError(81, 'UNKNOWN_DATABASE', `Database ${database.slice(0, 64)} does not exist`);
    const format = url.searchParams.get('default_format') ?? req.headers['x-clickhouse-format']?.toString() ?? 'TabSeparated';
    if (!IDENT.test(format)) throw storeError(73, 'UNKNOWN_FORMAT', `Unknown format ${format.slice(0, 64)}`);

    if (insert) {
      if (access === 'read') throw storeError(164, 'READONLY', `${user}: Cannot execute query in readonly mode`);
      if (!INSERT_FORMATS.test(insert.format)) throw storeError(497, 'ACCESS_DENIED', `INSERT format ${insert.format}: not allowed through the store port`);
      const db = insert.database ?? database ?? 'default';
      const cols = insert.columns?.length ? ` (${insert.columns.join(', ')})` : '';
      await inserter.insert(`INSERT INTO ${db}.${insert.table}${cols} FORMAT ${insert.format}`, raw, insertSettings(url.searchParams));
      res.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8', 'x-clickhouse-summary': '{}' }).end();
      return;
    }

    const params: Record<string, string> = {};
    const sets: string[] = [];
    for (const [k, v] of url.searchParams) {
      if (k.startsWith('param_')) params[k.slice(6)] = v;
      else if (!PROTOCOL_PARAMS.has(k) && !HTTP_ONLY.test(k)) {
        checkSettingName(k);
        sets.push(setStatement(k, v));
      }
    }
    const canonical = await guard.check(sql, params, access);
    // Read-only as Grafana's data source needs it (readonly = 2: it sets max_execution_time),
    // enforced by the engine after the URL's settings, on this request's own session.
    if (access === 'read') sets.push('SET readonly = 2');
    await onOwnConnection(opts.open, async (session) => {
      const result = await session.exec({
        query: [...(database ? [`USE \`${database}\``] : []), ...sets, canonical].join(';\n'),
        query_params: Object.keys(params).length ? params : undefined,
        clickhouse_settings: { default_format: format },
      });
      res.writeHead(200, {
        'content-type': 'text/plain; charset=UTF-8',
        'x-clickhouse-format': format,
        'x-clickhouse-summary': JSON.stringify(result.summary ?? {}),
      });
      for await (const chunk of result.stream) res.write(chunk);
      res.end();
    });
  };

  const server = http.createServer((req, res) => {
    answer(req, res).catch((e: unknown) => {
      const err = e as ClickHouseLikeError;
      const code = e instanceof StoreError ? e.code : errorCode(err);
      // chdb's errors arrive parsed (message without code and type): put them back in
      // ClickHouse's form, which clients parse into code and type.
      const msg = err.message.startsWith('Code:')
        ? err.message
        : `Code: ${code}. DB::Exception: ${err.message.trim()} (${err.type && /^[A-Z0-9_]+$/.test(err.type) ? err.type : 'UNKNOWN_EXCEPTION'})`;
      if (e instanceof StoreError) log.warn({ code, type: e.type, detail: e.message }, 'store request refused');
      else log.debug({ code, msg }, 'store query failed');
      if (!res.headersSent) res.writeHead(statusFor(code), { 'content-type': 'text/plain; charset=UTF-8', 'x-clickhouse-exception-code': String(code) });
      res.end(`${msg}\n`);
    });
  });
  server.keepAliveTimeout = 10_000;
  server.on('close', () => void own.close());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      const addr = server.address();
      const boundPort = typeof addr === 'object' && addr ? addr.port : opts.port;
      log.info({ url: `http://${opts.host}:${boundPort}`, users: Object.keys(credentials) }, '[store] serving ClickHouse HTTP over chdb');
      resolve(Object.assign(server, { boundPort }));
    });
  });
}
