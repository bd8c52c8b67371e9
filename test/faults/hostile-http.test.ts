/**
 * Malformed and hostile HTTP input: fuzzed bodies (random bytes, hostile field values, deep
 * nesting, huge numbers, prototype-pollution keys), header tricks (duplicate and huge
 * Content-Length, smuggling, oversized headers, slow and truncated requests) and path traversal.
 * Every answer is a clear 4xx (or 204 for what is valid), never a 5xx or a crash; whatever was
 * accepted is stored exactly once; the process keeps serving and its prototypes stay clean.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_UA, beacon } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { Ledger, writeReport } from './support/ledger.js';
import { rawRequest } from './support/raw-http.js';

const t = useTestService({ accounts: [`fuzz-${randomBytes(3).toString('hex')}`, `trav-${randomBytes(3).toString('hex')}`] });
let port: number;
let ledger: Ledger;
const CLIENT_ERRORS = new Set([400, 403, 404, 405, 411, 413, 414, 415, 431]);

beforeAll(() => {
  port = Number(new URL(t.url).port);
  ledger = new Ledger('hostile-http', [t.accounts[0]!.id]);
});

/** Send a body as text/plain (sendBeacon's type) and record it under the event ids it carries. */
async function send(body: string | Buffer, ids: string[] = [], contentType = 'text/plain'): Promise<number> {
  let status = 0;
  try {
    const res = await fetch(`${t.url}/v/event`, {
      method: 'POST',
      headers: { 'content-type': contentType, 'user-agent': BROWSER_UA },
      body: body as string,
      signal: AbortSignal.timeout(10_000),
    });
    status = res.status;
    const text = await res.text();
    if (status >= 400) expect(JSON.parse(text)).toHaveProperty('error');
  } catch {
    status = 0;
  }
  ledger.record(ids, status);
  return status;
}

async function stillServing(): Promise<void> {
  expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  const id = randomUUID();
  expect(await send(JSON.stringify(beacon(t.accounts[0]!.id, { eventId: id })), [id])).toBe(204);
}

const HOSTILE_VALUES: unknown[] = [
  null,
  true,
  -1,
  0,
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER + 2,
  1.5,
  2 ** 53,
  '',
  ' ',
  'x'.repeat(10_000),
  '\u0000\u0001\u001f',
  '\ud800',
  '😀'.repeat(300),
  '../../etc/passwd',
  '<script>alert(1)</script>',
  "'; DROP TABLE events; --",
  '{{7*7}}',
  '${jndi:ldap://x}',
  [],
  [1, 2],
  {},
  { $gt: '' },
  { __proto__: { polluted: 1 } },
  { toString: 'x' },
  Array(50).fill('a'),
];
const FIELDS = [
  'account',
  'type',
  'sessionId',
  'visitorId',
  'path',
  'eventId',
  'ts',
  'url',
  'title',
  'referrer',
  'label',
  'depth',
  'dwellMs',
  'listing',
  'rec',
  'segment',
  'props',
];

describe('fault: malformed and hostile HTTP input', () => {
  it('answers random bytes and broken encodings with 4xx', async () => {
    const statuses = new Set<number>();
    for (let i = 0; i < 120; i++) {
      const body = randomBytes(Math.floor(Math.random() * 3000));
      statuses.add(await send(body, [], i % 3 === 0 ? 'application/json' : 'text/plain'));
    }
    statuses.add(await send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), [], 'application/json'));
    statuses.add(await send('{"account": "a"', [], 'application/json'));
    statuses.add(await send('', []));
    statuses.add(await send('null'));
    statuses.add(await send('"just a string"'));
    statuses.add(await send('[]'));
    statuses.add(await send('{}', [], 'application/x-www-form-urlencoded'));
    for (const s of statuses) expect(CLIENT_ERRORS.has(s), `status ${s}`).toBe(true);
    await stillServing();
  });

  it('accepts or refuses each hostile field value with 204 or 400, never anything else', async () => {
    const account = t.accounts[0]!.id;
    const seen = new Map<number, number>();
    for (const field of FIELDS) {
      for (const value of HOSTILE_VALUES) {
        const id = randomUUID();
        const e: Record<string, unknown> = { ...beacon(account, { eventId: id }), [field]: value };
        const ids = typeof e.eventId === 'string' ? [e.eventId] : [];
        const status = await send(JSON.stringify(e), ids);
        seen.set(status, (seen.get(status) ?? 0) + 1);
        expect([204, 400, 403, 413], `${field}=${JSON.stringify(value)?.slice(0, 40)} → ${status}`).toContain(status);
      }
    }
    expect(seen.get(204)).toBeGreaterThan(0);
    expect(seen.get(400)).toBeGreaterThan(0);
    await stillServing();
  });

  it('survives deep nesting, huge numbers and oversize bodies', async () => {
    const account = t.accounts[0]!.id;
    const depth = 20_000;
    expect(await send(`{"events":${'['.repeat(depth)}${']'.repeat(depth)}}`)).toBe(400);
    expect(await send(`${'{"a":'.repeat(depth / 4)}1${'}'.repeat(depth / 4)}`)).toBe(400);
    expect(await send(JSON.stringify({ ...beacon(account), props: JSON.parse(`${'{"a":'.repeat(500)}1${'}'.repeat(500)}`) as object }))).toBe(400);
    for (const n of ['1e309', '-1e309', '1' + '0'.repeat(400), '0.' + '0'.repeat(400) + '1', '-0', '123456789012345678901234567890']) {
      const id = randomUUID();
      const body = JSON.stringify({ ...beacon(account, { eventId: id }), ts: 0 }).replace('"ts":0', `"ts":${n}`);
      expect([204, 400]).toContain(await send(body, [id]));
    }
    const big = JSON.stringify({ ...beacon(account), title: 'x'.repeat(70_000) });
    expect(await send(big)).toBe(413);
    const batch = { events: Array.from({ length: 21 }, () => beacon(account, { eventId: randomUUID() })) };
    expect(
      await send(
        JSON.stringify(batch),
        batch.events.map((e) => String(e.eventId)),
      ),
    ).toBe(400);
    await stillServing();
  });

  it('never lets prototype-pollution keys reach a prototype', async () => {
    const account = t.accounts[0]!.id;
    const bodies: [string, string][] = [];
    for (const trick of [
      '"__proto__":{"polluted":"yes"}',
      '"constructor":{"prototype":{"polluted":"yes"}}',
      '"props":{"__proto__":{"polluted":"yes"}}',
      '"props":{"__proto__":"yes","constructor":"x","prototype":"y"}',
    ]) {
      const id = randomUUID();
      const base = JSON.stringify(beacon(account, { eventId: id }));
      bodies.push([`{${trick},${base.slice(1)}`, id]);
    }
    const batchId = randomUUID();
    bodies.push([`{"__proto__":{"polluted":"yes"},"events":[${JSON.stringify(beacon(account, { eventId: batchId }))}]}`, batchId]);
    for (const [body, id] of bodies) expect([204, 400]).toContain(await send(body, [id]));
    const probe: Record<string, unknown> = {};
    expect(probe.polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false);
    await stillServing();
  });

  it('handles header tricks: duplicate and huge Content-Length, smuggling, giant headers, slow and cut requests', async () => {
    const account = t.accounts[0]!.id;
    const head = (extra: string) => `POST /v/event HTTP/1.1\r\nHost: x\r\nUser-Agent: ${BROWSER_UA}\r\nContent-Type: text/plain\r\n${extra}`;
    const results: { name: string; status: number; ids: string[] }[] = [];
    const run = async (name: string, req: string | string[], ids: string[] = [], delayMs?: number) => {
      const r = await rawRequest(port, req, { timeoutMs: 1500, delayMs });
      results.push({ name, status: r.status, ids });
      return r;
    };
    const ev = () => {
      const id = randomUUID();
      return { id, body: JSON.stringify(beacon(account, { eventId: id })) };
    };

    let e = ev();
    await run('duplicate content-length', head(`Content-Length: ${e.body.length}\r\nContent-Length: 5\r\n\r\n${e.body}`), [e.id]);
    e = ev();
    await run('huge content-length', head(`Content-Length: 99999999999999\r\n\r\n${e.body}`), [e.id]);
    e = ev();
    await run('negative content-length', head(`Content-Length: -1\r\n\r\n${e.body}`), [e.id]);
    e = ev();
    await run('non-numeric content-length', head(`Content-Length: 12abc\r\n\r\n${e.body}`), [e.id]);
    e = ev();
    const smuggled = `GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`;
    // Read to the end of the connection: a smuggled request would show as a second answer.
    const smuggle = await rawRequest(port, head(`Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`), {
      timeoutMs: 1500,
      untilClose: true,
    });
    results.push({ name: 'content-length with chunked', status: smuggle.status, ids: [] });
    expect(smuggle.statusLines, smuggle.raw).toBeLessThanOrEqual(1);
    await run('chunked body', head(`Transfer-Encoding: chunked\r\n\r\n${e.body.length.toString(16)}\r\n${e.body}\r\n0\r\n\r\n`), [e.id]);
    await run('giant header', head(`X-Big: ${'a'.repeat(200_000)}\r\nContent-Length: 2\r\n\r\n{}`));
    await run('many headers', head(`${Array.from({ length: 2000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\nContent-Length: 2\r\n\r\n{}`));
    await run('null byte in header', head(`X-Evil: a\u0000b\r\nContent-Length: 2\r\n\r\n{}`));
    await run('bare CR', `POST /v/event HTTP/1.1\rHost: x\r\n\r\n`);
    await run('absolute-form target', `POST http://evil.example/v/event HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 2\r\n\r\n{}`);
    await run('garbage request line', `\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003 not http at all\r\n\r\n`);
    e = ev();
    const cut = await run('body shorter than content-length', head(`Content-Length: ${e.body.length + 100}\r\n\r\n${e.body}`), [e.id]);
    expect(cut.status).toBe(0);
    e = ev();
    const slowHead = head(`Content-Length: ${e.body.length}\r\n\r\n`);
    const slow = run('slow client', [...slowHead.match(/[\s\S]{1,40}/g)!, e.body], [e.id], 30);
    // Others are served while the slow client trickles in.
    await stillServing();
    await slow;

    for (const r of results) {
      ledger.record(r.ids, r.status);
      expect(r.status < 500, `${r.name}: ${r.status}`).toBe(true);
    }
    // uWS closes the connection on a Content-Length it cannot parse as a size; one it can but over the cap is a 413.
    expect([0, 413]).toContain(results.find((r) => r.name === 'huge content-length')!.status);
    const over = await rawRequest(port, head(`Content-Length: 9999999\r\n\r\n{}`));
    expect(over.status).toBe(413);
    for (const name of ['negative content-length', 'non-numeric content-length', 'content-length with chunked', 'giant header', 'many headers']) {
      const r = results.find((x) => x.name === name)!;
      expect(r.status === 0 || (r.status >= 400 && r.status < 500), `${name}: ${r.status}`).toBe(true);
    }
    expect(results.find((r) => r.name === 'slow client')!.status).toBe(204);
    await stillServing();
  });

  it('answers up to 48 request headers; past that closes the connection unanswered (a uWS build limit)', async () => {
    const get = (n: number, pad = 0) =>
      `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: n - 1 }, (_, i) => `X-H${i}: ${'v'.repeat(pad)}\r\n`).join('')}\r\n`;
    const ok = await rawRequest(port, get(48));
    expect(ok.status).toBe(200);
    // 49 headers in more than 4 kB: the parser gives up at once.
    const t0 = Date.now();
    const big = await rawRequest(port, get(49, 100), { timeoutMs: 5000 });
    expect(big).toMatchObject({ status: 0, closed: true });
    expect(Date.now() - t0).toBeLessThan(2000);
    // Under 4 kB uWS waits for the rest of a request it cannot hold, until its 10 s idle timeout
    // (checked every 4 s): no answer, then a close; never a hang.
    const t1 = Date.now();
    const small = await rawRequest(port, get(49), { timeoutMs: 20_000 });
    expect(small).toMatchObject({ status: 0, closed: true });
    expect(Date.now() - t1).toBeGreaterThan(4000);
    expect(Date.now() - t1).toBeLessThan(16_000);
    await stillServing();
  }, 40_000);

  it('serves no file outside its own assets for path traversal, and redirects listings only to the listing URL', async () => {
    const trav = t.accounts[1]!;
    const leaks = [/root:x:0:0/, /"name":\s*"visitor-presence"/, /import .* from '/, /BEGIN (RSA |OPENSSH )?PRIVATE KEY/, /adminKeySha256/];
    const paths = [
      '/t.js/../../../../etc/passwd',
      '/t.js/..%2f..%2f..%2fetc%2fpasswd',
      '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/..%2f..%2fpackage.json',
      '/t.js%00.html',
      '/t.js/../package.json',
      '/./././t.js/../../app/main.ts',
      '/static/../../package.json',
      '/web/../../.env',
      `/listings/../../etc/passwd?account=${trav.id}`,
      `/listings/..%2f..%2fetc%2fpasswd/click?account=${trav.id}`,
      `/listings/%2e%2e/click?account=${trav.id}`,
      `/listings/..%252f..%252fadmin/click?account=${trav.id}`,
      `/listings/x%0d%0aSet-Cookie:%20evil=1/click?account=${trav.id}`,
      `/listings/%2F%2Fevil.example/click?account=${trav.id}`,
      `/listings/../../../${trav.id}/click?account=${trav.id}`,
      '/..;/healthz',
      '/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd',
    ];
    const listingPrefix = `${trav.origin}/listings/`;
    for (const p of paths) {
      const r = await rawRequest(port, `GET ${p} HTTP/1.1\r\nHost: x\r\nUser-Agent: ${BROWSER_UA}\r\n\r\n`);
      expect(r.status < 500, `${p}: ${r.status}`).toBe(true);
      for (const leak of leaks) expect(r.body, p).not.toMatch(leak);
      expect(r.headers['set-cookie'] ?? '', p).not.toContain('evil');
      if (r.status === 302) {
        const loc = r.headers.location ?? '';
        expect(loc.startsWith(listingPrefix), `${p} → ${loc}`).toBe(true);
        expect(new URL(loc).pathname.startsWith('/listings/'), loc).toBe(true);
        expect(new URL(loc).origin).toBe(trav.origin);
      } else {
        expect(r.status === 200 ? r.headers['content-type'] : 'error', p).not.toMatch(/^text\/plain|octet-stream/);
      }
    }
    await stillServing();
  });

  it('stores every accepted event exactly once', async () => {
    await ledger.settle(t);
    const result = await ledger.verify(t.ch);
    writeReport(ledger, result);
    expect(result.accepted).toBeGreaterThan(10);
    expect(result.missing).toEqual([]);
    expect(result.duplicated).toEqual([]);
    expect(result.foreign).toEqual([]);
    await stillServing();
  });
});
