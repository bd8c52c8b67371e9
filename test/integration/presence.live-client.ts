/** A real WebSocket client of `/live` for the presence integration tests (not a test file itself). */
import WebSocket from 'ws';

// `any`: messages are JSON whose shape each test asserts field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- as said above
export type Msg = Record<string, any>;

export function wsUrl(httpUrl: string, path: string, query: Record<string, string> = {}): string {
  const u = new URL(path, httpUrl.replace(/^http/, 'ws'));
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  return u.toString();
}

export class LiveClient {
  readonly messages: Msg[] = [];
  closedWith?: number;
  #waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      this.messages.push(JSON.parse(String(data)) as Msg);
      for (const w of this.#waiters.splice(0)) w();
    });
    ws.on('close', (code) => {
      this.closedWith = code;
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** Open a connection and resolve once it is open (rejects with the HTTP status of a refused upgrade). */
  static connect(url: string, headers: Record<string, string> = {}): Promise<LiveClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      const client = new LiveClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode }));
        ws.terminate();
      });
      ws.once('error', (err) => reject(err));
    });
  }

  /** Resolve with the first message (from index `from`) matching `pred`. */
  async waitFor(pred: (m: Msg) => boolean, timeoutMs = 10_000, from = 0): Promise<Msg> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.messages.slice(from).find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(this.messages.slice(-5))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Messages after the snapshot about one visitor (by id), in order. */
  about(visitorId: string): Msg[] {
    return this.messages.filter((m) => m.visitorId === visitorId || m.visitor?.visitorId === visitorId);
  }

  send(data: string | Buffer): void {
    this.ws.send(data);
  }

  close(): void {
    this.ws.close();
  }
}

/** The HTTP status with which an upgrade is refused (fails when it is accepted). */
export async function refusedStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  try {
    const c = await LiveClient.connect(url, headers);
    c.close();
  } catch (err) {
    const status = (err as { status?: number }).status;
    if (status) return status;
    throw err;
  }
  throw new Error('the upgrade was accepted');
}
