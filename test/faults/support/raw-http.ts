/** Raw HTTP/1.1 over a socket, for requests no HTTP client library will send. */
import net from 'node:net';

export interface RawResponse {
  /** Status of the first response, or 0 when the server closed without answering. */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (after answering or not). */
  closed: boolean;
  /** Everything received. */
  raw: string;
  /** How many HTTP status lines the server sent on the connection. */
  statusLines: number;
}

/**
 * Send `request` as is and read the first response (by its Content-Length) or until the server
 * closes or `timeoutMs` passes. `chunks` sends the request in pieces `delayMs` apart (slow clients).
 * `untilClose` reads on past the first response, until the server closes or the time is up (to
 * see a second, smuggled answer).
 */
export function rawRequest(
  port: number,
  request: string | Buffer | (string | Buffer)[],
  opts: { timeoutMs?: number; delayMs?: number; untilClose?: boolean } = {},
): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const parts = Array.isArray(request) ? request : [request];
    let data = Buffer.alloc(0);
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const raw = data.toString('latin1');
      const headEnd = raw.indexOf('\r\n\r\n');
      const head = headEnd >= 0 ? raw.slice(0, headEnd) : '';
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
      const headers: Record<string, string> = {};
      for (const line of head.split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const statusLines = raw.match(/(^|\r\n)HTTP\/1\.[01] \d{3}/g)?.length ?? 0;
      resolve({ status: status ? Number(status) : 0, headers, body: headEnd >= 0 ? raw.slice(headEnd + 4) : '', closed, raw, statusLines });
    };
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 3000);
    socket.on('data', (d) => {
      data = Buffer.concat([data, d]);
      const raw = data.toString('latin1');
      const headEnd = raw.indexOf('\r\n\r\n');
      if (headEnd < 0 || opts.untilClose) return;
      const len = /\r\ncontent-length:\s*(\d+)/i.exec(raw.slice(0, headEnd))?.[1];
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(raw)?.[1] ?? 0);
      if ((len !== undefined && data.length >= headEnd + 4 + Number(len)) || status === 204 || status === 304) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', async () => {
      for (const [i, p] of parts.entries()) {
        if (socket.destroyed) return;
        socket.write(p);
        if (opts.delayMs && i < parts.length - 1) await new Promise((r) => setTimeout(r, opts.delayMs));
      }
    });
  });
}
