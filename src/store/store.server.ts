import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { Logger } from '../logger.js';
import { EmbeddedInserter, parseInsert } from '../adapters/clickhouse/chdb-insert.js';

/** The slice of a chdb connection the store serves with (raw SQL in, raw bytes out). */
export interface RawSqlEngine {
  exec(params: {
    query: string;
    query_params?: Record<string, unknown>;
    clickhouse_settings?: Record<string, unknown>;
  }): Promise<{ stream: NodeJS.ReadableStream; summary?: unknown }>;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** URL parameters that are part of the protocol, not settings to forward. */
const PROTOCOL_PARAMS = new Set(['query', 'database', 'default_format', 'query_id', 'user', 'password', 'session_id', 'compress', 'decompress', 'enable_http_compression']);

interface ClickHouseLikeError {
  message: string;
  code?: string | number;
  type?: string;
}

function errorCode(err: ClickHouseLikeError): number {
  const n = Number(err.code);
  if (Number.isFinite(n) && n > 0) return n;
  const m = /Code: (\d+)/.exec(err.message);
  return m ? Number(m[1]) : 1000;
}

/** HTTP status ClickHouse uses for an exception code (subset that clients react to). */
function statusFor(code: number): number {
  if (code === 60 || code === 81) return 404; // UNKNOWN_TABLE, UNKNOWN_DATABASE
  if (code === 62 || code === 47 || code === 36 || code === 27 || code === 26 || code === 117) return 400;
  if (code === 516 || code === 192 || code === 194) return 403;
  return 500;
}

async function readAll(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = Buffer.concat(chunks);
  return req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
}

/**
 * ClickHouse's own HTTP interface, served from the process that owns the chdb data path
 * (chdb allows one process per path): other gateways, workers and Grafana reach the embedded
 * store through `CLICKHOUSE_URL` exactly as they would reach a ClickHouse server.
 */
export function startStoreServer(engine: RawSqlEngine, log: Logger, host: string, port: number): Promise<http.Server & { boundPort: number }> {
  const text = async (query: string, params: Record<string, unknown>) => {
    const r = await engine.exec({ query, query_params: params, clickhouse_settings: { default_format: 'JSONEachRow' } });
    let out = '';
    for await (const c of r.stream) out += c.toString();
    return out;
  };
  const inserter = new EmbeddedInserter({ query: text, command: async (q, p) => void (await text(q, p)) });
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://store');
      if (url.pathname === '/ping' || (url.pathname === '/' && req.method === 'GET' && !url.searchParams.has('query'))) {
        res.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
        return;
      }
      if (url.pathname !== '/') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('There is no handle ' + url.pathname + '\n');
        return;
      }
      const body = req.method === 'POST' ? (await readAll(req)).toString('utf8') : '';
      const q = url.searchParams.get('query');
      const sql = q !== null ? (body ? `${q}\n${body}` : q) : body;
      if (!sql.trim()) throw Object.assign(new Error('Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)'), { code: 62 });
      const database = url.searchParams.get('database') ?? req.headers['x-clickhouse-database']?.toString();
      if (database && !IDENT.test(database)) throw Object.assign(new Error(`Code: 81. DB::Exception: Database ${database} does not exist. (UNKNOWN_DATABASE)`), { code: 81 });
      const format = url.searchParams.get('default_format') ?? req.headers['x-clickhouse-format']?.toString() ?? 'TabSeparated';
      const insert = q !== null && body ? parseInsert(q) : undefined;
      if (insert) {
        const db = insert.database ?? database ?? 'default';
        const cols = insert.columns?.length ? ` (${insert.columns.join(', ')})` : '';
        await inserter.insert(`INSERT INTO ${db}.${insert.table}${cols} FORMAT ${insert.format}`, body);
        res.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8', 'x-clickhouse-summary': '{}' }).end();
        return;
      }
      const params: Record<string, string> = {};
      const settings: Record<string, unknown> = { default_format: format };
      for (const [k, v] of url.searchParams) {
        if (k.startsWith('param_')) params[k.slice(6)] = v;
        else if (!PROTOCOL_PARAMS.has(k) && IDENT.test(k)) settings[k] = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
      }
      const result = await engine.exec({
        query: database ? `USE \`${database}\`; ${sql}` : sql,
        query_params: Object.keys(params).length ? params : undefined,
        clickhouse_settings: settings,
      });
      res.writeHead(200, {
        'content-type': 'text/plain; charset=UTF-8',
        'x-clickhouse-format': format,
        'x-clickhouse-summary': JSON.stringify(result.summary ?? {}),
      });
      for await (const chunk of result.stream) res.write(chunk);
      res.end();
    } catch (e) {
      const err = e as ClickHouseLikeError;
      const code = errorCode(err);
      const msg = err.message.startsWith('Code:') ? err.message : `Code: ${code}. DB::Exception: ${err.message}`;
      log.debug({ code, msg }, 'store query failed');
      if (!res.headersSent) res.writeHead(statusFor(code), { 'content-type': 'text/plain; charset=UTF-8', 'x-clickhouse-exception-code': String(code) });
      res.end(`${msg}\n`);
    }
  });
  server.keepAliveTimeout = 10_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const addr = server.address();
      const boundPort = typeof addr === 'object' && addr ? addr.port : port;
      log.info({ url: `http://${host}:${boundPort}` }, '[store] serving ClickHouse HTTP over chdb');
      resolve(Object.assign(server, { boundPort }));
    });
  });
}
