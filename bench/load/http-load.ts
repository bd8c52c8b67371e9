/**
 * A small, fast HTTP/1.1 load generator: raw `net` sockets, keep-alive, pipelining across many
 * connections, request bodies built from a template with a fresh event id each. It runs as its
 * own process (the harness spawns it) so the service under test never shares its event loop.
 *
 * Usage: node --import tsx bench/load/http-load.ts '<LoadSpec as JSON>'; prints one JSON result.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface LoadSpec {
  host: string;
  port: number;
  connections: number;
  /** Requests in flight per connection (HTTP/1.1 pipelining). */
  pipeline: number;
  /** Stop sending after this long… */
  durationMs: number;
  /** …or after this many requests, whichever comes first. */
  maxRequests?: number;
  /** Requests per second in total; unset: as fast as the server answers. */
  rate?: number;
  /** Completions in the first `warmupMs` are not counted in the throughput figure. */
  warmupMs?: number;
  request: RequestSpec;
  /** Rate mode: write `<id> <sentAtEpochMs>` for every request (probe ids only for heartbeats). */
  recordSendsTo?: string;
}

export interface RequestSpec {
  /** `event`: one event a request; `batch`: `batchSize` events; `heartbeat`: presence heartbeats; `get`: a plain GET. */
  kind: 'event' | 'batch' | 'heartbeat' | 'get';
  path: string;
  account: string;
  /** @defaultValue 20 */
  batchSize?: number;
  /** Distinct client addresses sent as X-Forwarded-For (the service runs with TRUST_PROXY behind a balancer). */
  clientIps?: number;
  /** Distinct sessions (and visitors) the events belong to. */
  sessions?: number;
  /** Heartbeats: one in this many is from a brand-new probe visitor (its `join` is timed). */
  probeEvery?: number;
  /** Prefix of probe visitor ids (unique per run). */
  probePrefix?: string;
  /** Account of the probe heartbeats (the one the live subscribers watch). @defaultValue account */
  probeAccount?: string;
  headers?: Record<string, string>;
}

export interface LoadResult {
  sent: number;
  completed: number;
  /** Completed inside the measured window (after warm-up). */
  measured: number;
  /** Of those, answered 2xx. */
  measuredOk: number;
  /** 2xx answers per second inside the measured window. */
  okPerS: number;
  measuredMs: number;
  /** Requests per second answered inside the measured window. */
  rps: number;
  status: Record<string, number>;
  latencyMs: { p50: number; p99: number; max: number };
  socketErrors: number;
  elapsedMs: number;
  /** CPU time (user + system) this generator used: what the load took from the machine. */
  cpuMs: number;
}

const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';
const CRLF2 = Buffer.from('\r\n\r\n');

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** Builds request buffers; every event gets a fresh uuid so nothing is de-duplicated away. */
class RequestFactory {
  #n = 0;
  #probe = 0;
  constructor(
    private readonly spec: LoadSpec,
    private readonly onProbe?: (id: string, at: number) => void,
  ) {}

  #event(type: string, session: number, visitor: string, account = this.spec.request.account): string {
    const s = pad(session, 7);
    return (
      `{"account":"${account}","type":"${type}","sessionId":"s-${s}","visitorId":"${visitor}",` +
      `"path":"/listings/${session % 500}-high-st","eventId":"${randomUUID()}","url":"https://bench.example/listings/${session % 500}-high-st?utm_medium=email",` +
      `"title":"12 High Street, a two-bedroom flat","referrer":"https://www.google.com/"}`
    );
  }

  next(): Buffer {
    const r = this.spec.request;
    const i = this.#n++;
    const sessions = r.sessions ?? 10_000;
    const session = (i * 7919) % sessions;
    const ipN = r.clientIps ? i % r.clientIps : -1;
    let head = `${r.kind === 'get' ? 'GET' : 'POST'} ${r.path} HTTP/1.1\r\nHost: ${this.spec.host}:${this.spec.port}\r\nUser-Agent: ${BROWSER_UA}\r\n`;
    if (ipN >= 0) head += `X-Forwarded-For: 10.${(ipN >> 16) & 255}.${(ipN >> 8) & 255}.${ipN & 255}\r\n`;
    for (const [k, v] of Object.entries(r.headers ?? {})) head += `${k}: ${v}\r\n`;
    if (r.kind === 'get') return Buffer.from(`${head}\r\n`);
    let body: string;
    if (r.kind === 'batch') {
      const parts: string[] = [];
      for (let k = 0; k < (r.batchSize ?? 20); k++) parts.push(this.#event('pageview', (session + k) % sessions, `v-${pad((session + k) % sessions, 7)}`));
      body = `{"events":[${parts.join(',')}]}`;
    } else if (r.kind === 'heartbeat') {
      let visitor = `v-${pad(session, 7)}`;
      let account = r.account;
      if (r.probeEvery && i % r.probeEvery === 0) {
        visitor = `${r.probePrefix ?? 'probe'}-${this.#probe++}`;
        account = r.probeAccount ?? r.account;
        this.onProbe?.(visitor, performance.timeOrigin + performance.now());
      }
      body = this.#event('heartbeat', session, visitor, account);
    } else {
      body = this.#event('pageview', session, `v-${pad(session, 7)}`);
      if (this.spec.recordSendsTo) this.onProbe?.(/"eventId":"([^"]+)"/.exec(body)![1]!, performance.timeOrigin + performance.now());
    }
    return Buffer.from(`${head}Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** One keep-alive connection with its queue of in-flight requests' send times. */
class Conn {
  readonly socket: net.Socket;
  readonly inflight: number[] = [];
  #buf: Buffer = Buffer.alloc(0);
  closed = false;

  constructor(
    spec: LoadSpec,
    private readonly onResponse: (status: number, sentAt: number) => void,
    onClose: () => void,
  ) {
    this.socket = net.connect({ host: spec.host, port: spec.port, noDelay: true });
    this.socket.on('data', (d) => this.#data(d));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      this.closed = true;
      onClose();
    });
  }

  #data(d: Buffer): void {
    let buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
    let off = 0;
    for (;;) {
      const end = buf.indexOf(CRLF2, off);
      if (end < 0) break;
      const status = Number(buf.toString('latin1', off + 9, off + 12));
      let bodyLen = 0;
      if (status !== 204 && status !== 304) {
        const head = buf.toString('latin1', off, end).toLowerCase();
        const m = /\r\ncontent-length:\s*(\d+)/.exec(head);
        bodyLen = m ? Number(m[1]) : 0;
      }
      const total = end + 4 + bodyLen;
      if (total > buf.length) break;
      off = total;
      this.onResponse(status, this.inflight.shift() ?? 0);
    }
    this.#buf = off < buf.length ? buf.subarray(off) : Buffer.alloc(0);
    if (this.#buf.length && off > 0) this.#buf = Buffer.from(this.#buf);
    buf = Buffer.alloc(0);
  }
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const sends = spec.recordSendsTo ? createWriteStream(spec.recordSendsTo) : undefined;
  const factory = new RequestFactory(spec, sends ? (id, at) => sends.write(`${id} ${at.toFixed(3)}\n`) : undefined);
  const status: Record<string, number> = {};
  const lat: number[] = [];
  let sent = 0;
  let completed = 0;
  let measured = 0;
  let measuredOk = 0;
  let socketErrors = 0;
  const started = performance.now();
  const cpuAtStart = process.cpuUsage();
  const warmupEnd = started + (spec.warmupMs ?? 0);
  const stopAt = started + spec.durationMs;
  const max = spec.maxRequests ?? Number.POSITIVE_INFINITY;
  let lastMeasured = warmupEnd;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  const sending = () => sent < max && performance.now() < stopAt;
  const conns: Conn[] = [];
  /** Rate mode: requests due but not yet on a connection, with the time they were due. */
  const queue: [Buffer, number][] = [];
  let onAnswer = () => undefined as void;
  const maybeDone = () => {
    if (!sending() && queue.length === 0 && conns.every((c) => c.inflight.length === 0 || c.closed)) finish();
  };

  const fill = (c: Conn) => {
    if (c.closed) return;
    const out: Buffer[] = [];
    while (c.inflight.length < spec.pipeline && sending()) {
      out.push(factory.next());
      c.inflight.push(performance.now());
      sent++;
    }
    if (out.length) c.socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
  };

  for (let k = 0; k < spec.connections; k++) {
    const c: Conn = new Conn(
      spec,
      (st, sentAt) => {
        const now = performance.now();
        completed++;
        status[st] = (status[st] ?? 0) + 1;
        if (now >= warmupEnd && sentAt >= warmupEnd) {
          measured++;
          if (st >= 200 && st < 300) measuredOk++;
          lastMeasured = now;
          if (lat.length < 2_000_000) lat.push(now - sentAt);
        }
        if (!spec.rate) fill(c);
        else onAnswer();
        maybeDone();
      },
      () => {
        socketErrors++;
        maybeDone();
      },
    );
    conns.push(c);
  }
  await Promise.all(conns.map((c) => new Promise<void>((r) => c.socket.once('connect', () => r()).once('error', () => r()))));

  let timer: NodeJS.Timeout | undefined;
  if (spec.rate) {
    // Fixed rate, open loop: every tick builds what is due so far and hands each request to a
    // connection with room (at most `pipeline` in flight: uWS closes a connection that
    // pipelines behind a pending async answer); the rest waits in a queue. Latency counts from
    // the moment a request was due, so time spent queued is not hidden.
    const t0 = performance.now();
    let created = 0;
    let rr = 0;
    const free = (): Conn | undefined => {
      for (let k = 0; k < conns.length; k++) {
        const c = conns[rr++ % conns.length]!;
        if (!c.closed && c.inflight.length < spec.pipeline) return c;
      }
      return undefined;
    };
    const pump = () => {
      while (queue.length) {
        const c = free();
        if (!c) return;
        const [buf, at] = queue.shift()!;
        c.inflight.push(at);
        c.socket.write(buf);
      }
    };
    timer = setInterval(() => {
      const due = Math.min(max, Math.floor(((performance.now() - t0) / 1000) * spec.rate!)) - created;
      for (let k = 0; k < due && performance.now() < stopAt; k++) {
        queue.push([factory.next(), performance.now()]);
        created++;
        sent++;
      }
      pump();
      if (!sending() || created >= max) {
        clearInterval(timer);
        maybeDone();
      }
    }, 2);
    onAnswer = pump;
  } else {
    for (const c of conns) fill(c);
    // Re-check the deadline even when no answers arrive.
    timer = setInterval(maybeDone, 50);
  }
  const hardStop = setTimeout(finish, spec.durationMs + 15_000);
  await done;
  clearInterval(timer);
  clearTimeout(hardStop);
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuAtStart);
  for (const c of conns) c.socket.destroy();
  if (sends) await new Promise<void>((r) => sends.end(() => r()));
  const sorted = Float64Array.from(lat).sort();
  const measuredMs = Math.max(1, lastMeasured - warmupEnd);
  return {
    sent,
    completed,
    measured,
    measuredOk,
    measuredMs: Math.round(measuredMs),
    rps: Math.round((measured / measuredMs) * 1000),
    okPerS: Math.round((measuredOk / measuredMs) * 1000),
    status,
    latencyMs: { p50: +percentile(sorted, 50).toFixed(2), p99: +percentile(sorted, 99).toFixed(2), max: +(sorted[sorted.length - 1] ?? 0).toFixed(2) },
    socketErrors,
    elapsedMs: Math.round(elapsedMs),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
  runLoad(spec).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err: Error) => {
      process.stderr.write(`${err.stack}\n`);
      process.exit(1);
    },
  );
}
