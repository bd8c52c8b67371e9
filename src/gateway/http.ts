import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { TextDecoder } from 'node:util';
import type { z } from 'zod';
import { GatewayError, InvalidEncodingError, InvalidJsonError, PayloadTooLargeError, ValidationError, toGatewayError } from '../errors.js';

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
  /** The peer address (or the first X-Forwarded-For hop when the proxy is trusted). */
  ip: string;
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

/** A reply to one uWS response, safe after an await: it checks for abort and corks the write. */
export class Reply {
  aborted = false;
  done = false;
  readonly #abortHandlers: (() => void)[] = [];

  /** `head`: a HEAD request gets every header of the answer, and its Content-Length, but no body. */
  constructor(
    readonly res: HttpResponse,
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
    this.res.cork(() => {
      this.res.writeStatus(statusLine(r.status));
      for (const [k, v] of Object.entries(r.headers ?? {})) this.res.writeHeader(k, v);
      if (this.head) {
        // Not endWithoutBody(length): this uWS build then waits for that many bytes and drops the
        // next request on a kept-alive connection.
        this.res.writeHeader('content-length', String(Buffer.byteLength(r.body ?? '')));
        this.res.endWithoutBody();
      } else {
        this.res.end(r.body ?? '');
      }
    });
  }

  json(status: number, value: unknown, headers: Record<string, string> = {}): void {
    this.send({ status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) });
  }

  error(err: GatewayError, headers: Record<string, string> = {}): void {
    const h = { ...headers };
    if (err.retryAfter !== undefined) h['retry-after'] = String(err.retryAfter);
    this.json(err.status, { error: err.reason, code: err.code, message: err.message }, h);
  }
}

export interface HandlerOptions {
  /** Largest body accepted before answering 413. */
  maxBodyBytes: number;
  trustProxy: boolean;
  /** Called for every error answered, with the request (for the log line). */
  onError?: (err: GatewayError, req: RequestInfo, cause: unknown) => void;
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

function peerIp(res: HttpResponse, headers: Record<string, string>, trustProxy: boolean): string {
  if (trustProxy) {
    const xff = headers['x-forwarded-for'] ?? headers['x-real-ip'];
    const first = xff?.split(',')[0]?.trim();
    if (first) return first;
  }
  return Buffer.from(res.getRemoteAddressAsText()).toString();
}

export type Handler = (req: RequestInfo, reply: Reply) => Promise<void> | void;

/**
 * Adapt an async handler to uWS: copy the request, register onAborted and onData before any
 * await, and turn anything thrown into the registry's error answer.
 */
export function handle(opts: HandlerOptions, fn: Handler, paramCount = 0) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const headers: Record<string, string> = {};
    req.forEach((k, v) => {
      headers[k] = v;
    });
    const params: string[] = [];
    for (let i = 0; i < paramCount; i++) params.push(req.getParameter(i) ?? '');
    const method = req.getMethod();
    const reply = new Reply(res, method === 'head');
    let bodyPromise: Promise<Buffer> | undefined;
    if (method === 'post' || method === 'put' || method === 'patch' || method === 'delete') {
      bodyPromise = readBody(res, reply, Number(headers['content-length'] ?? 0), opts.maxBodyBytes);
      bodyPromise.catch(() => undefined);
    }
    const info: RequestInfo = {
      method,
      url: req.getUrl(),
      query: new URLSearchParams(req.getQuery() ?? ''),
      headers,
      params,
      ip: peerIp(res, headers, opts.trustProxy),
      body: () => bodyPromise ?? Promise.resolve(Buffer.alloc(0)),
    };
    const fail = (cause: unknown) => {
      if (reply.aborted) return;
      const err = toGatewayError(cause);
      opts.onError?.(err, info, cause);
      reply.error(err);
    };
    try {
      const p = fn(info, reply);
      if (p) p.catch(fail);
    } catch (cause) {
      fail(cause);
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
