/**
 * A fault-injecting proxy in front of a ClickHouse HTTP interface (here the service's `store`
 * role). A worker pointed at it sees exactly what a real outage looks like:
 * - `pass`: every request forwarded;
 * - `refuse`: the port is closed (ECONNREFUSED) and open connections are reset;
 * - `hold-inserts`: an INSERT into `events` reaches ClickHouse and is applied, but its answer never
 *   comes back (the worker is stuck between insert and ack: the moment to kill it);
 * - `cut-inserts`: the same, but the connection is reset instead of answered (the insert
 *   happened, the worker cannot know: it must not insert the rows twice on retry);
 * - `delay-inserts`: an INSERT into `events` is held `delayMs` (or until the mode changes)
 *   before it is forwarded, then answered normally (a slow, overloaded ClickHouse).
 */
import http from 'node:http';
import type { Socket } from 'node:net';

export type ProxyMode = 'pass' | 'refuse' | 'hold-inserts' | 'cut-inserts' | 'delay-inserts';

export interface ChProxy {
  url: string;
  port: number;
  /** INSERTs into events that reached ClickHouse while held or cut. */
  readonly faulted: number;
  /** Requests forwarded in total. */
  readonly forwarded: number;
  /** INSERTs into events held back by `delay-inserts` so far. */
  readonly delayed: number;
  /** Delayed INSERTs not yet answered (the slow insert is in flight). */
  readonly delayedInFlight: number;
  setMode(mode: ProxyMode, delayMs?: number): Promise<void>;
  close(): Promise<void>;
}

function isEventsInsert(req: http.IncomingMessage): boolean {
  const q = new URL(req.url ?? '/', 'http://proxy').searchParams.get('query') ?? '';
  return /^\s*INSERT\s+INTO\s+(`?\w+`?\.)?`?events`?[\s(]/i.test(q);
}

export async function startChProxy(upstream: string): Promise<ChProxy> {
  const target = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true });
  const sockets = new Set<Socket>();
  const held: http.ServerResponse[] = [];
  let mode: ProxyMode = 'pass';
  let faulted = 0;
  let forwarded = 0;

  let delayMs = 0;
  let delayed = 0;
  let delayedInFlight = 0;
  // Forwarders of delayed inserts, run early when the mode changes.
  const waiting = new Set<() => void>();
  const server = http.createServer((req, res) => {
    if (mode === 'delay-inserts' && isEventsInsert(req)) {
      delayed++;
      delayedInFlight++;
      res.on('close', () => delayedInFlight--);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const forward = () => {
          clearTimeout(timer);
          waiting.delete(forward);
          forwarded++;
          const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent }, (upRes) => {
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            upRes.pipe(res);
          });
          up.on('error', () => res.socket?.destroy());
          up.end(Buffer.concat(chunks));
        };
        const timer = setTimeout(forward, delayMs);
        waiting.add(forward);
      });
      return;
    }
    const fault = (mode === 'hold-inserts' || mode === 'cut-inserts') && isEventsInsert(req) ? mode : undefined;
    forwarded++;
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent }, (upRes) => {
      if (!fault) {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
        return;
      }
      // Let ClickHouse finish the insert, then withhold or cut the answer.
      upRes.resume();
      upRes.on('end', () => {
        faulted++;
        if (fault === 'hold-inserts') held.push(res);
        else res.socket?.destroy();
      });
    });
    up.on('error', () => res.socket?.destroy());
    req.pipe(up);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.keepAliveTimeout = 30_000;

  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        const a = server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  const port = await listen(0);
  const shut = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });

  return {
    // The store's credential travels in the URL's userinfo, as in the URL the store printed.
    url: `http://${target.username ? `${target.username}:${target.password}@` : ''}127.0.0.1:${port}`,
    port,
    get faulted() {
      return faulted;
    },
    get forwarded() {
      return forwarded;
    },
    get delayed() {
      return delayed;
    },
    get delayedInFlight() {
      return delayedInFlight;
    },
    async setMode(next: ProxyMode, delay = 0) {
      delayMs = delay;
      if (next === mode) return;
      const was = mode;
      mode = next;
      if (was === 'delay-inserts') for (const forward of [...waiting]) forward();
      if (next === 'refuse') await shut();
      else if (was === 'refuse') await listen(port);
      if (next === 'pass') for (const r of held.splice(0)) r.socket?.destroy();
    },
    async close() {
      for (const r of held.splice(0)) r.socket?.destroy();
      if (mode !== 'refuse') await shut();
      agent.destroy();
    },
  };
}
