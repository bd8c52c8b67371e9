/**
 * Hostile live WebSocket clients: an oversized frame closes only its sender; a client that never
 * reads is dropped at its backpressure limit instead of buffering without bound, while a normal
 * client keeps receiving every join; the gateway keeps serving and every event behind the
 * joins is stored exactly once.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { BROWSER_UA, eventually } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { Ledger, writeReport } from './support/ledger.js';

const BACKPRESSURE = 65_536;
const t = useTestService({ env: { LIVE_MAX_BACKPRESSURE: String(BACKPRESSURE), FLUSH_BATCH_SIZE: '2000' } });
let port: number;

beforeAll(() => {
  port = Number(new URL(t.url).port);
});

function liveUrl(): string {
  return `ws://127.0.0.1:${port}/live?account=${t.account.id}&key=${encodeURIComponent(t.account.adminKey)}`;
}

/** A live client that records every message; resolves once its snapshot arrived. */
async function liveClient(): Promise<{ ws: WebSocket; messages: string[]; closed: Promise<number> }> {
  const ws = new WebSocket(liveUrl());
  const messages: string[] = [];
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  ws.on('message', (d) => messages.push(d.toString()));
  ws.on('error', () => undefined);
  await eventually(() => messages.some((m) => m.startsWith('{"type":"snapshot"')), 10_000);
  return { ws, messages, closed };
}

/** A raw WebSocket that upgrades and then never reads another byte. */
async function neverReading(): Promise<{ socket: net.Socket; received: () => number; ended: Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1');
  let bytes = 0;
  let upgraded = false;
  const ended = new Promise<void>((r) => socket.once('close', () => r()));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () =>
      socket.write(
        `GET /live?account=${t.account.id}&key=${encodeURIComponent(t.account.adminKey)} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    socket.on('data', (d) => {
      bytes += d.length;
      if (!upgraded && d.toString('latin1').startsWith('HTTP/1.1 101')) {
        upgraded = true;
        // From here on nothing is read: the kernel buffers fill, then uWS's backpressure.
        socket.pause();
        resolve();
      }
    });
    setTimeout(() => reject(new Error('no 101 from /live')), 10_000);
  });
  return { socket, received: () => bytes, ended };
}

describe('fault: hostile live WebSocket clients', () => {
  it('closes a client that sends an oversized frame, and only that client', async () => {
    const good = await liveClient();
    const bad = await liveClient();
    bad.ws.send('x'.repeat(2 * 1024 * 1024));
    const code = await Promise.race([bad.closed, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
    expect(code).not.toBe(-1);
    expect(code).not.toBe(1000);
    // Garbage that fits is ignored (one log line), not an error.
    for (let i = 0; i < 50; i++) good.ws.send(`{"type":"${'?'.repeat(i)}"`);
    good.ws.send('{"type":"ping"}');
    await eventually(() => good.messages.some((m) => m.includes('"pong"')), 5000);
    expect(good.ws.readyState).toBe(WebSocket.OPEN);
    expect(t.messages().filter((m) => m.startsWith('[live-garbage]')).length).toBe(1);
    good.ws.close();
  });

  it('drops a client that never reads at its backpressure limit while others get every join', async () => {
    const ledger = new Ledger('live-slow-clients', [t.account.id]);
    const closesBefore = t.messages().filter((m) => m.startsWith('[live-close]')).length;
    const good = await liveClient();
    const slow = await neverReading();
    const slowAlso = await neverReading();
    // Joins with long paths and titles: a few MB in all, past the kernel buffers and the limit.
    const visitors: string[] = [];
    const longPath = `/listings/${'a'.repeat(1500)}`;
    for (let r = 0; r < 150; r++) {
      const events = Array.from({ length: 20 }, () => {
        const v = `v-${randomBytes(6).toString('hex')}`;
        visitors.push(v);
        return { account: t.account.id, type: 'heartbeat', sessionId: `s-${v}`, visitorId: v, path: longPath, title: 'T'.repeat(500), eventId: randomUUID() };
      });
      const res = await fetch(`${t.url}/v/event`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', 'user-agent': BROWSER_UA },
        body: JSON.stringify({ events }),
      });
      await res.arrayBuffer();
      ledger.record(
        events.map((e) => e.eventId),
        res.status,
      );
    }
    expect(ledger.statuses['204']).toBe(150);

    // The reading client got every join, in spite of the two that never read.
    const joined = new Set<string>();
    await eventually(
      () => {
        for (const m of good.messages.splice(0))
          if (m.startsWith('{"type":"join"')) joined.add((JSON.parse(m) as { visitor: { visitorId: string } }).visitor.visitorId);
        return joined.size >= visitors.length;
      },
      30_000,
      100,
    );
    expect(visitors.every((v) => joined.has(v))).toBe(true);

    // The gateway closed the never-reading clients: reading now drains what the kernel held, then the close.
    await eventually(() => t.messages().filter((m) => m.startsWith('[live-close]')).length >= closesBefore + 2, 15_000, 100);
    for (const c of [slow, slowAlso]) {
      c.socket.resume();
      const gone = await Promise.race([c.ended.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
      expect(gone).toBe(true);
    }
    expect(good.ws.readyState).toBe(WebSocket.OPEN);

    // Still serving: HTTP, and a new live client gets its snapshot.
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const again = await liveClient();
    again.ws.close();
    good.ws.close();

    await ledger.settle(t);
    const result = await ledger.verify(t.ch);
    writeReport(ledger, result, { joinsReceivedByReadingClient: joined.size, maxBackpressure: BACKPRESSURE });
    expect(result.missing).toEqual([]);
    expect(result.duplicated).toEqual([]);
    expect(result.foreign).toEqual([]);
  });
});
