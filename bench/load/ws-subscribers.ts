/**
 * Many live WebSocket subscribers in one process (separate from the service): connects `count`
 * clients to a `/live` URL, waits for each one's first message (the snapshot), prints
 * `READY <n>`, then records when each client receives the `join` of a probe visitor (ids
 * starting with the probe prefix). On SIGTERM it writes `<visitor> <receivedAtEpochMs>` lines to
 * the output file and prints a JSON summary.
 *
 * Usage: node --import tsx bench/load/ws-subscribers.ts '<JSON options>'
 */
import { createWriteStream } from 'node:fs';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

interface Options {
  url: string;
  count: number;
  probePrefix: string;
  out: string;
  /** Give up on connecting after this long (the feed is then `unavailable`). */
  connectTimeoutMs: number;
}

const o = JSON.parse(process.argv[2] ?? '{}') as Options;
// Probe ids are `<prefix><run tag>-<n>`: one subscriber process serves several load runs.
const probeRe = new RegExp(`"(${o.probePrefix}[A-Za-z0-9]*-\\d+)"`);
const receipts: string[] = [];
let messages = 0;
let closedEarly = 0;
let firstError = '';
const clients: WebSocket[] = [];

function connect(): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(o.url, { perMessageDeflate: false });
    clients.push(ws);
    let first = true;
    ws.on('message', (data) => {
      const at = performance.timeOrigin + performance.now();
      messages++;
      const text = data.toString();
      if (first) {
        first = false;
        resolve(text.includes('"snapshot"'));
        return;
      }
      if (!text.startsWith('{"type":"join"')) return;
      const m = probeRe.exec(text);
      if (m) receipts.push(`${m[1]} ${at.toFixed(3)}`);
    });
    ws.on('unexpected-response', (_req, res) => {
      firstError ||= `HTTP ${res.statusCode}`;
      resolve(false);
    });
    ws.on('error', (err) => {
      firstError ||= err.message;
      resolve(false);
    });
    ws.on('close', () => {
      if (!first) closedEarly++;
      resolve(false);
    });
  });
}

const deadline = Date.now() + o.connectTimeoutMs;
let ready = 0;
for (let i = 0; i < o.count && Date.now() < deadline; i += 50) {
  const batch = await Promise.all(
    Array.from({ length: Math.min(50, o.count - i) }, () => Promise.race([connect(), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))])),
  );
  ready += batch.filter(Boolean).length;
  if (ready === 0) break;
}
process.stdout.write(`READY ${ready}${firstError ? ` ${firstError}` : ''}\n`);

process.on('SIGTERM', () => {
  const out = createWriteStream(o.out);
  out.write(receipts.join('\n'));
  out.end(() => {
    process.stdout.write(`${JSON.stringify({ connected: ready, messages, receipts: receipts.length, closedEarly, error: firstError || undefined })}\n`);
    for (const c of clients) c.terminate();
    process.exit(0);
  });
});
