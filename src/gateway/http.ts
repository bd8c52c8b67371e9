import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { TextDecoder } from 'node:util';
import type { z } from 'zod';
import { describeIssues, GatewayError, InvalidEncodingError, InvalidJsonError, PayloadTooLargeError, ValidationError } from '../errors.js';
import { kv, type Logger } from '../logger.js';
import { toGatewayError } from './error-map.js';
import { clientAddress, type ProxyTrust } from '../domain/trusted-proxy.js';

/**
 * Everything a handler may read about a request, copied synchronously: uWS's `req` is only
 * valid inside the route callback, before the first await.
 */
export interface RequestInfo {
  method: string;
  url: string;
  query: URLSearchParams;
  headers: Readonly<Record<string, string>>;
  /** Route parameters (`:slug` → params[0]). */
  params: string[];
  /**
   * The client address: the socket peer, or behind trusted proxies the X-Forwarded-For entry the
   * nearest trusted proxy appended (see `TRUST_PROXY`). Canonical text (IPv4-mapped IPv6 as IPv4).
   */
  ip: string;
  /** The socket peer is a trusted proxy: headers it sets (country, forwarded address) may be believed. */
  viaTrustedProxy: boolean;
  /** The body, read up to the configured cap (empty for GET). */
  body(): Promise<Buffer>;
}

export interface ResponseShape {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  201: '201 Created',
  202: '202 Accepted',
  204: '204 No Content',
  302: '302 Found',
  304: '304 Not Modified',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

export function statusLine(status: number): string {
  return STATUS_TEXT[status] ?? String(status);
}

const EMPTY = Buffer.alloc(0);

/**
 * A reply to one uWS response, safe after an await: it checks for abort and corks the write.
 *
 * Output is bounded per connection. A body goes out with `tryEnd`, which hands the socket only
 * what it takes now; the rest stays here (a view of the body, not a copy) and follows from
 * `onWritable` as the client reads. While it waits, the answer is still pending in uWS, and uWS
 * closes a connection on which a request arrives while an answer is pending: a client that
 * pipelines requests without reading gets answers in order up to what its socket holds, then a
 * closed connection; never an answer out of order and never a growing buffer. A client that
 * lets more than `maxBufferedBytes` of one answer wait is closed at once, one that reads
 * nothing of it for uWS's 10 s timeout then. (`res.pause()` cannot serve here: it stops a
 * socket's writable events as well as its reads.)
 */
export class Reply {
  aborted = false;
  done = false;
  /**
   * Set by `handle` while the route callback runs, i.e. while uWS is still parsing the bytes
   * that carried this request (and maybe more requests pipelined behind it).
   */
  inCallback = false;
  /** Headers every error answer of this request carries (CORS, so a browser can read why). */
  errorHeaders: Record<string, string> = {};
  readonly #abortHandlers: (() => void)[] = [];

  /** `head`: a HEAD request gets every header of the answer, and its Content-Length, but no body. */
  constructor(
    readonly res: HttpResponse,
    private readonly limits: Pick<HandlerOptions, 'maxBufferedBytes' | 'log'>,
    readonly head = false,
  ) {
    res.onAborted(() => {
      this.aborted = true;
      for (const h of this.#abortHandlers) h();
    });
  }

  onAbort(h: () => void): void {
    this.#abortHandlers.push(h);
  }

  send(r: ResponseShape): void {
    if (this.aborted || this.done) return;
    this.done = true;
    const body = r.body === undefined ? EMPTY : typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
    if ((body.length === 0 || this.head) && this.inCallback) {
      // A header-only answer (204, 304) is complete at once, so uWS would go on answering every
      // request pipelined behind it into its own unbounded buffer when the client does not read
      // (tryEnd cannot see that buffer without a body to write). One turn later it is still
      // pending when the next pipelined request is parsed, and uWS closes that connection.
      setImmediate(() => this.#write(r, body));
      return;
    }
    this.#write(r, body);
  }

  #write(r: ResponseShape, body: Buffer): void {
    if (this.aborted) return;
    let waiting = 0;
    this.res.cork(() => {
      this.res.writeStatus(statusLine(r.status));
      for (const [k, v] of Object.entries(r.headers ?? {})) this.res.writeHeader(k, v);
      if (this.head) {
        // Not endWithoutBody(length): this uWS build then waits for that many bytes and drops the
        // next request on a kept-alive connection.
        this.res.writeHeader('content-length', String(body.length));
        this.res.endWithoutBody();
        return;
      }
      if (body.length === 0) {
        this.res.end();
        return;
      }
      const [, finished] = this.res.tryEnd(body, body.length);
      if (!finished) waiting = body.length - this.res.getWriteOffset();
    });
    if (waiting === 0 || this.aborted) return;
    if (waiting > this.limits.maxBufferedBytes) {
      this.limits.log?.info(
        { status: r.status, bytes: body.length, waiting, max: this.limits.maxBufferedBytes },
        'closing a connection that does not read its answer',
      );
      this.res.close();
      return;
    }
    this.res.onWritable((offset) => {
      if (this.aborted) return true;
      const [ok] = this.res.tryEnd(body.subarray(offset), body.length);
      return ok;
    });
  }

  json(status: number, value: unknown, headers: Record<string, string> = {}): void {
    this.send({ status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) });
  }

  error(err: GatewayError, headers: Record<string, string> = {}): void {
    const h = { ...this.errorHeaders, ...headers };
    if (err.retryAfter !== undefined) h['retry-after'] = String(err.retryAfter);
    this.json(err.status, { error: err.reason, code: err.code, message: err.message }, h);
  }
}

export interface HandlerOptions {
  /** Largest body accepted before answering 413. */
  maxBodyBytes: number;
  /** Which hops are trusted proxies (`TRUST_PROXY`); false: X-Forwarded-For is never read. */
  trustProxy: ProxyTrust | false;
  /** Most bytes of one answer kept waiting for a slow reader before its connection is closed. */
  maxBufferedBytes: number;
  /** Where error answers and connections closed for not reading are logged. */
  log?: Pick<Logger, 'info' | 'warn' | 'error' | 'child'>;
  /**
   * The greppable product line of an error answer.
   * @defaultValue `[api-error] reason=… status=… route=…` (the route's name, never its path:
   * ids appear in paths)
   */
  errorLine?: (err: GatewayError, req: RequestInfo, route: string) => string;
  /** Called for every error answered, after it is logged (for metrics). */
  onError?: (err: GatewayError, req: RequestInfo) => void;
}

const apiErrorLine = (err: GatewayError, _req: RequestInfo, route: string) => `[api-error] ${kv({ reason: err.reason, status: err.status, route })}`;

const unredactedLogs = new WeakMap<object, Pick<Logger, 'warn'>>();

/**
 * A 4xx line's fields are the route, code, status and message, none of which redaction
 * censors; its pass over them was half the cost of the line.
 */
function unredacted(log: Pick<Logger, 'child'>): Pick<Logger, 'warn'> {
  let child = unredactedLogs.get(log);
  if (!child) unredactedLogs.set(log, (child = log.child({}, { redact: [] })));
  return child;
}

/**
 * The one place an error answer is logged, by status as fastify's default error handler does:
 * a 5xx is the service's fault (error, with the cause), a 4xx the client's (warn). Returns the
 * registry error to answer with (a route that must answer otherwise, like the pixel, ignores it).
 */
export function reportError(route: string, opts: HandlerOptions, req: RequestInfo, cause: unknown): GatewayError {
  const err = toGatewayError(cause);
  const line = (opts.errorLine ?? apiErrorLine)(err, req, route);
  const fields = { route, code: err.code, status: err.status, detail: err.message };
  if (err.status >= 500) opts.log?.error({ ...fields, err: cause }, line);
  else if (opts.log) unredacted(opts.log).warn(fields, line);
  opts.onError?.(err, req);
  return err;
}

function readBody(res: HttpResponse, reply: Reply, declared: number, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (declared > max) {
      reject(new PayloadTooLargeError(`body is larger than ${max} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    reply.onAbort(() => reject(new Error('aborted')));
    res.onData((ab, isLast) => {
      if (failed) return;
      size += ab.byteLength;
      if (size > max) {
        failed = true;
        reject(new PayloadTooLargeError(`body is larger than ${max} bytes`));
        return;
      }
      // uWS reuses the chunk's memory after this callback returns: copy it.
      chunks.push(Buffer.from(ab.slice(0)));
      if (isLast) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
  });
}

export type Handler = (req: RequestInfo, reply: Reply) => Promise<void> | void;

/**
 * Adapt an async handler to uWS: copy the request, register onAborted and onData before any
 * await, and turn anything thrown into the registry's error answer, logged under `route` (a
 * constant name such as `ingest.event`).
 */
export function handle(route: string, opts: HandlerOptions, fn: Handler, paramCount = 0) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const headers: Record<string, string> = {};
    req.forEach((k, v) => {
      // Proxies that add their own X-Forwarded-For line instead of appending to the one there
      // make a list in order; every other repeated header keeps its last value.
      headers[k] = k === 'x-forwarded-for' && headers[k] !== undefined ? `${headers[k]}, ${v}` : v;
    });
    const params: string[] = [];
    for (let i = 0; i < paramCount; i++) params.push(req.getParameter(i) ?? '');
    const method = req.getMethod();
    const reply = new Reply(res, opts, method === 'head');
    let bodyPromise: Promise<Buffer> | undefined;
    if (method === 'post' || method === 'put' || method === 'patch' || method === 'delete') {
      bodyPromise = readBody(res, reply, Number(headers['content-length'] ?? 0), opts.maxBodyBytes);
      bodyPromise.catch(() => undefined);
    }
    const client = clientAddress(opts.trustProxy, Buffer.from(res.getRemoteAddressAsText()).toString(), headers['x-forwarded-for']);
    const info: RequestInfo = {
      method,
      url: req.getUrl(),
      query: new URLSearchParams(req.getQuery() ?? ''),
      headers,
      params,
      ip: client.ip,
      viaTrustedProxy: client.viaProxy,
      body: () => bodyPromise ?? Promise.resolve(Buffer.alloc(0)),
    };
    const fail = (cause: unknown) => {
      if (reply.aborted) return;
      reply.error(reportError(route, opts, info, cause));
    };
    reply.inCallback = true;
    try {
      const p = fn(info, reply);
      if (p) p.catch(fail);
    } catch (cause) {
      fail(cause);
    } finally {
      reply.inCallback = false;
    }
  };
}

/** Parse a Cookie header into a map (first value of a name wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    if (!out.has(k)) out.set(k, part.slice(i + 1).trim());
  }
  return out;
}

export type Route = (app: TemplatedApp) => void;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A request body as text; invalid UTF-8 is a 400, never replaced silently. */
export function bodyText(buf: Buffer): string {
  try {
    return utf8.decode(buf);
  } catch {
    throw new InvalidEncodingError('body is not valid UTF-8');
  }
}

/** A request body as JSON (400 `invalid-utf8` / `invalid-json` otherwise). */
export function bodyJson(buf: Buffer): unknown {
  const text = bodyText(buf);
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidJsonError('body is not valid JSON');
  }
}

/** Parse with a zod schema or answer 400 naming every bad field (`describeIssues`). */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, prefix = '', whole?: string): z.output<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw new ValidationError(describeIssues(r.error.issues, prefix, whole));
  return r.data;
}

/** A route parameter (`:id`), percent-decoded and checked by `schema`; 400 naming `what` otherwise. */
export function routeParam<T>(raw: string | undefined, schema: z.ZodType<T>, what: string): T {
  let text: string;
  try {
    text = decodeURIComponent(raw ?? '');
  } catch {
    throw new ValidationError(`${what} is not valid percent-encoding`);
  }
  const r = schema.safeParse(text);
  if (!r.success) throw new ValidationError(`${what}: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return r.data;
}
