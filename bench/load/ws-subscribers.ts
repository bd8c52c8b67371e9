/**
 * Many live WebSocket subscribers in one process (separate from the service): connects `count`
 * clients to a `/live` URL, waits for each one's first message (the snapshot), prints
 * `READY <n>`, then records when each client receives the `join` of a probe visitor (ids
 * starting with the probe prefix). On SIGTERM it writes `<visitor> <receivedAtEpochMs>` lines to
 * the output file and prints a JSON summary.
 *
 * The clients are raw `net` sockets with a minimal RFC 6455 reader (server frames are unmasked;
 * pings are answered), not the `ws` library: a join reaches every subscriber, so this process
 * reads 1,000 frames per join. With `ws` that cost most of a core at 5,000 heartbeats/s, taken
 * from the two cores the service is measured on.
 *
 * Usage: node --import tsx bench/load/ws-subscribers.ts '<JSON options>'
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

interface Options {
  url: string;
  count: number;
  probePrefix: string;
  out: string;
  /** Give up on connecting after this long (the feed is then `unavailable`). */
  connectTimeoutMs: number;
}

const o = JSON.parse(process.argv[2] ?? '{}') as Options;
const target = new URL(o.url);
const JOIN = Buffer.from('{"type":"join"');
// Probe ids are `<prefix><run tag>-<n>`: one subscriber process serves several load runs.
const PROBE = Buffer.from(`"${o.probePrefix}`);
const HEAD_END = Buffer.from('\r\n\r\n');
const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const receiptIds: string[] = [];
const receiptAt: number[] = [];
/** Every socket reads into this one buffer (`onread`): no Buffer and no stream event per read. */
const READ_BUFFER = Buffer.alloc(1 << 16);
let messages = 0;
let closedEarly = 0;
let firstError = '';
const sockets: net.Socket[] = [];

/** A masked client frame (RFC 6455 §5.3) with a payload of at most 125 bytes. */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const out = Buffer.alloc(6 + payload.length);
  out[0] = 0x80 | opcode;
  out[1] = 0x80 | payload.length;
  mask.copy(out, 2);
  for (let i = 0; i < payload.length; i++) out[6 + i] = payload[i]! ^ mask[i & 3]!;
  return out;
}

function connect(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({
      host: target.hostname,
      port: Number(target.port),
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => onData(Buffer.from(buf.buffer, buf.byteOffset, n)) },
    });
    sockets.push(socket);
    let handshaken = false;
    let first = true;
    let pending: Buffer | undefined;
    socket.on('connect', () => {
      socket.write(
        `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    const onText = (payload: Buffer, at: number) => {
      messages++;
      if (first) {
        first = false;
        resolve(payload.includes('"snapshot"'));
        return;
      }
      if (payload.compare(JOIN, 0, JOIN.length, 0, JOIN.length) !== 0) return;
      const start = payload.indexOf(PROBE);
      if (start < 0) return;
      const end = payload.indexOf(0x22, start + 1);
      receiptIds.push(payload.toString('latin1', start + 1, end));
      receiptAt.push(at);
    };
    // `chunk` is READ_BUFFER's: whatever is kept past this call is copied.
    const onData = (chunk: Buffer): boolean => {
      const at = performance.timeOrigin + performance.now();
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = undefined;
      let off = 0;
      if (!handshaken) {
        const end = buf.indexOf(HEAD_END);
        if (end < 0) {
          pending = Buffer.from(buf);
          return true;
        }
        const status = buf.toString('latin1', 9, 12);
        if (status !== '101') {
          firstError ||= `HTTP ${status}`;
          resolve(false);
          socket.destroy();
          return false;
        }
        handshaken = true;
        off = end + 4;
      }
      while (buf.length - off >= 2) {
        const opcode = buf[off]! & 0x0f;
        let len = buf[off + 1]! & 0x7f;
        let head = 2;
        if (len === 126) {
          if (buf.length - off < 4) break;
          len = buf.readUInt16BE(off + 2);
          head = 4;
        } else if (len === 127) {
          if (buf.length - off < 10) break;
          len = Number(buf.readBigUInt64BE(off + 2));
          head = 10;
        }
        if (buf.length - off < head + len) break;
        const payload = buf.subarray(off + head, off + head + len);
        off += head + len;
        if (opcode === OP_TEXT) onText(payload, at);
        else if (opcode === OP_PING) socket.write(clientFrame(0xa, payload));
        else if (opcode === OP_CLOSE) socket.end();
      }
      if (off < buf.length) pending = Buffer.from(buf.subarray(off));
      return true;
    };
    socket.on('error', (err) => {
      firstError ||= err.message;
      resolve(false);
    });
    socket.on('close', () => {
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
  out.write(receiptIds.map((id, i) => `${id} ${receiptAt[i]!.toFixed(3)}`).join('\n'));
  out.end(() => {
    process.stdout.write(`${JSON.stringify({ connected: ready, messages, receipts: receiptIds.length, closedEarly, error: firstError || undefined })}\n`);
    for (const s of sockets) s.destroy();
    process.exit(0);
  });
});
