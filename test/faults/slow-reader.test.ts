/**
 * Clients that pipeline requests and never read the answers, against a real gateway process
 * over real sockets: the gateway's memory stays bounded, its other clients keep being served
 * (`/healthz` probes), and the slow connections are closed by the server. A client that
 * pipelines and reads gets its answers in order, or a closed connection, never a wrong answer.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { startServiceProcess, type ServiceProcess } from '../support/processes.js';

const base = useTestService({ env: { ROLES: 'store' } });
let gw: ServiceProcess;
let tight: ServiceProcess;
// 0: close as soon as an answer does not fit the socket. A larger bound works the same way, but
// how much of an answer the kernel takes at the moment it fills depends on its buffer sizes.
const TIGHT_BOUND = 0;

beforeAll(async () => {
  [gw, tight] = await Promise.all([
    startServiceProcess(base, { env: { ROLES: 'gateway', LOG_LEVEL: 'info' } }),
    startServiceProcess(base, { env: { ROLES: 'gateway', LOG_LEVEL: 'info', HTTP_MAX_BUFFERED_BYTES: String(TIGHT_BOUND) } }),
  ]);
  base.fx.track(gw, tight);
});

function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

interface SlowClient {
  /** Requests written before the server closed the connection (or the budget ran out). */
  sent(): number;
  /** Resolves with ms since start when the server closes the connection; never when it does not. */
  closed: Promise<number>;
  destroy(): void;
}

/**
 * Pipeline `total` copies of `request` as fast as the socket takes them, then one more every
 * 100 ms, never reading a byte. The writes are also how the client learns that the server closed
 * the connection: a paused socket that only waits would not notice.
 */
function slowClient(port: number, request: string, total: number): SlowClient {
  const started = Date.now();
  const socket = net.connect(port, '127.0.0.1');
  // Not reading: what the server sends piles up in the kernel, then in the server.
  socket.pause();
  const batch = Buffer.from(request.repeat(1000));
  let sent = 0;
  let open = true;
  let trickle: NodeJS.Timeout | undefined;
  const pump = () => {
    while (open && sent < total) {
      sent += 1000;
      if (!socket.write(batch)) {
        socket.once('drain', pump);
        return;
      }
    }
    trickle ??= setInterval(() => {
      sent++;
      socket.write(request);
    }, 100);
  };
  socket.on('connect', pump);
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) =>
    socket.on('close', () => {
      open = false;
      clearInterval(trickle);
      resolve(Date.now() - started);
    }),
  );
  return {
    sent: () => sent,
    closed,
    destroy: () => {
      clearInterval(trickle);
      socket.destroy();
    },
  };
}

/**
 * Probe `/healthz` every 20 ms, from a process of its own so that the time measured is the
 * gateway's and not this busy test process's. `start` resolves once the prober is warm (a new
 * process's first fetch is slow anyway); `stop` gives each probe's ms, Infinity past 1 s.
 */
const PROBE = `
const url = process.argv[1] + '/healthz';
const once = async () => {
  const t0 = performance.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200 ? performance.now() - t0 : -1;
  } catch {
    return -1;
  }
};
let stop = false;
process.stdin.on('data', () => (stop = true));
(async () => {
  for (let i = 0; i < 10; i++) await once();
  process.stdout.write('ready\\n');
  const times = [];
  while (!stop) {
    times.push(await once());
    await new Promise((r) => setTimeout(r, 20));
  }
  process.stdout.write(JSON.stringify(times) + '\\n');
  process.exit(0);
})();`;

async function startProbe(url: string): Promise<{ stop(): Promise<number[]> }> {
  const child = spawn(process.execPath, ['-e', PROBE, url], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  while (!out.startsWith('ready\n')) {
    if (child.exitCode !== null) throw new Error('the prober exited before it was ready');
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    stop: async () => {
      child.stdin.write('stop\n');
      await exited;
      return (JSON.parse(out.slice('ready\n'.length)) as number[]).map((ms) => (ms < 0 ? Number.POSITIVE_INFINITY : ms));
    },
  };
}

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.95))]!;
}

/** Run slow clients against a gateway while probing it and sampling its RSS. */
async function underAttack(p: ServiceProcess, request: string, connections = 3, perConnection = 100_000) {
  const port = Number(new URL(p.url!).port);
  const prober = await startProbe(p.url!);
  const rss0 = rssMb(p.pid);
  let rssMax = rss0;
  const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssMb(p.pid))), 50);
  const clients = Array.from({ length: connections }, () => slowClient(port, request, perConnection));
  // Every slow connection closed by the server, or 15 s; then 2 s more of probing.
  await Promise.race([Promise.all(clients.map((c) => c.closed)), new Promise((r) => setTimeout(r, 15_000))]);
  await new Promise((r) => setTimeout(r, 2000));
  const probes = await prober.stop();
  clearInterval(sampler);
  const closedAt = await Promise.all(clients.map((c) => Promise.race([c.closed, Promise.resolve(-1)])));
  for (const c of clients) c.destroy();
  return { rssGrowthMb: rssMax - rss0, probes, p95: p95(probes), closedAt, sent: clients.map((c) => c.sent()) };
}

/**
 * Other clients are served: hardly any probe waits past 1 s (before this was built, 40 of 99 did,
 * and for 25 s). Loose on purpose: on a loaded 2-core box a process can miss the CPU for that long
 * now and then; the p95 is printed for the record.
 */
function starvedNot(probes: number[]): void {
  expect(probes.length).toBeGreaterThanOrEqual(20);
  const late = probes.filter((ms) => ms >= 1000).length;
  expect(late, `${late} of ${probes.length} /healthz probes took over 1 s`).toBeLessThanOrEqual(Math.floor(probes.length / 20));
}

/** Every slow connection was closed by the server (none still open when the wait ended). */
function allClosed(closedAt: number[]): void {
  expect(
    closedAt.every((ms) => ms >= 0),
    `closed at ${closedAt.join(', ')} ms`,
  ).toBe(true);
}

/** The attack was shed: its connections closed, everyone else served, the gateway's memory flat. */
function shed(label: string, r: Awaited<ReturnType<typeof underAttack>>): void {
  console.info(`[slow-reader] ${label}`, { ...r, probes: r.probes.map(Math.round).join(' ') });
  allClosed(r.closedAt);
  starvedNot(r.probes);
  expect(r.rssGrowthMb).toBeLessThan(200);
}

describe('fault: slow readers', () => {
  it('closes connections that pipeline GET /t.js without reading, and keeps serving everyone else', async () => {
    shed('t.js', await underAttack(gw, 'GET /t.js HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });

  it('closes connections that pipeline header-only answers (304) without reading', async () => {
    const first = await fetch(`${gw.url}/t.js`);
    const etag = first.headers.get('etag')!;
    await first.arrayBuffer();
    expect((await fetch(`${gw.url}/t.js`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    shed('304', await underAttack(gw, `GET /t.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${etag}\r\n\r\n`));
  });

  it('closes a connection that lets more than HTTP_MAX_BUFFERED_BYTES of an answer wait', async () => {
    const port = Number(new URL(tight.url!).port);
    // Once the kernel's buffers are full, (part of) the next /dashboard.js answer has to wait.
    const clients = Array.from({ length: 3 }, () => slowClient(port, 'GET /dashboard.js HTTP/1.1\r\nHost: x\r\n\r\n', 20_000));
    const closedAt = await Promise.all(clients.map((c) => Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(-1), 15_000))])));
    for (const c of clients) c.destroy();
    allClosed(closedAt);
    const closes = await eventually(() => {
      const lines = tight.logs().filter((l) => l.msg === 'closing a connection that does not read its answer');
      return lines.length ? lines : undefined;
    }, 5000);
    expect(closes[0]).toMatchObject({ max: TIGHT_BOUND, bytes: expect.any(Number) });
    expect(Number(closes[0]!.waiting)).toBeGreaterThan(TIGHT_BOUND);
    // A client that reads gets the same answer whole.
    const res = await fetch(`${tight.url}/dashboard.js`, { headers: { 'accept-encoding': 'identity' } });
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(TIGHT_BOUND);
  });

  it('answers pipelined requests in order, or closes the connection: never out of order, never silently', async () => {
    const port = Number(new URL(gw.url!).port);
    const exchange = (requests: string[]) =>
      new Promise<{ statuses: number[]; closedByServer: boolean }>((resolve) => {
        const socket = net.connect(port, '127.0.0.1', () => socket.write(requests.join('')));
        let data = Buffer.alloc(0);
        let closedByServer = false;
        const statuses = () => {
          const out: number[] = [];
          let at = 0;
          for (;;) {
            const text = data.subarray(at).toString('latin1');
            const head = text.indexOf('\r\n\r\n');
            if (head < 0) break;
            out.push(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0));
            const len = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, head))?.[1] ?? 0);
            if (text.length < head + 4 + len) break;
            at += head + 4 + len;
          }
          return out;
        };
        const finish = () => resolve({ statuses: statuses(), closedByServer });
        const timer = setTimeout(() => {
          socket.destroy();
          finish();
        }, 3000);
        socket.on('data', (d) => {
          data = Buffer.concat([data, d]);
          if (statuses().length === requests.length) {
            clearTimeout(timer);
            socket.destroy();
            finish();
          }
        });
        socket.on('close', () => {
          closedByServer = true;
          clearTimeout(timer);
          finish();
        });
      });
    const get = (p: string) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;

    // Answers written at once, with a body: all of them, in order.
    const sync = await exchange([get('/healthz'), get('/t.js'), get('/no-such-page'), get('/healthz')]);
    expect(sync.statuses).toEqual([200, 200, 404, 200]);

    // A request behind one whose answer is still being produced (/readyz asks Redis), or behind
    // a header-only answer: whatever came back is the in-order prefix, and the rest is refused by
    // a close the client sees.
    for (const requests of [
      [get('/readyz'), get('/healthz'), get('/healthz')],
      [`OPTIONS /v/event HTTP/1.1\r\nHost: x\r\nOrigin: http://127.0.0.1:1\r\n\r\n`, get('/healthz')],
    ]) {
      const r = await exchange(requests);
      const expected = requests.map((q) => (q.startsWith('OPTIONS') ? 204 : 200));
      expect(r.statuses).toEqual(expected.slice(0, r.statuses.length));
      if (r.statuses.length < requests.length) expect(r.closedByServer).toBe(true);
    }
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });
});
