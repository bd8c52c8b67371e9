import { describe, expect, it } from 'vitest';
import { beacon, BROWSER_UA, postEvent, type TestRedis } from '../support/services.js';
import { useTestService } from '../support/fixture.js';

let redis: TestRedis;
const t = useTestService(async (fx) => {
  redis = await fx.redis();
  return { redisUrl: redis.url, env: { MAX_BODY_BYTES: '16384' } };
});

type Case = { name: string; body: string | Uint8Array; headers?: Record<string, string>; status: number; reason: string };

describe('bad input gets its status and a [v-event-error] line, and the process keeps serving', () => {
  const cases = (): Case[] => {
    const acct = t.account.id;
    return [
      { name: 'malformed JSON', body: '{"account": "x", ', status: 400, reason: 'invalid-json' },
      { name: 'wrong types', body: JSON.stringify(beacon(acct, { sessionId: 42, depth: 'deep' })), status: 400, reason: 'invalid' },
      { name: 'unknown account', body: JSON.stringify(beacon('no-such-account')), status: 403, reason: 'unknown-account' },
      { name: 'wrong origin', body: JSON.stringify(beacon(acct)), headers: { origin: 'https://evil.example' }, status: 403, reason: 'origin-not-allowed' },
      { name: 'oversize body', body: JSON.stringify(beacon(acct, { title: 'x'.repeat(20_000) })), status: 413, reason: 'too-large' },
      { name: '21 events', body: JSON.stringify({ events: Array.from({ length: 21 }, () => beacon(acct)) }), status: 400, reason: 'too-many-events' },
      { name: 'unknown event type', body: JSON.stringify(beacon(acct, { type: 'teleport' })), status: 400, reason: 'invalid' },
      {
        name: 'huge props',
        body: JSON.stringify(
          beacon(acct, { props: { blob: 'y'.repeat(500), a: 'y'.repeat(500), b: 'y'.repeat(500), c: 'y'.repeat(500), d: 'y'.repeat(500) } }),
        ),
        status: 400,
        reason: 'invalid',
      },
      {
        name: 'invalid UTF-8',
        body: Buffer.concat([Buffer.from('{"account":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]),
        status: 400,
        reason: 'invalid-utf8',
      },
      {
        name: 'unsupported content type',
        body: 'a=b',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        status: 415,
        reason: 'unsupported-media-type',
      },
      { name: 'mixed accounts in one batch', body: JSON.stringify({ events: [beacon(acct), beacon('other-acct')] }), status: 400, reason: 'invalid' },
      { name: 'empty batch', body: JSON.stringify({ events: [] }), status: 400, reason: 'invalid' },
      { name: 'JSON that is not an object', body: '[1,2,3]', status: 400, reason: 'invalid' },
    ];
  };

  it('answers each case with its status, reason and log line, and counts it by reason', async () => {
    const rejected = async () => {
      const text = await (await fetch(`${t.url}/metrics`)).text();
      const byReason = new Map<string, number>();
      for (const m of text.matchAll(/^visitor_events_rejected_total\{reason="([^"]+)"\} (\d+)$/gm)) byReason.set(m[1]!, Number(m[2]));
      return byReason;
    };
    const rejectedBefore = await rejected();
    for (const c of cases()) {
      const before = t.messages().length;
      const res = await fetch(`${t.url}/v/event`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': BROWSER_UA, ...(c.headers ?? {}) },
        body: typeof c.body === 'string' ? c.body : new Blob([c.body as Uint8Array<ArrayBuffer>]),
      });
      expect(res.status, c.name).toBe(c.status);
      const json = (await res.json()) as { error: string; code: string };
      expect(json.error, c.name).toBe(c.reason);
      expect(json.code, c.name).toMatch(/^GW_ERR_/);
      const lines = t.messages().slice(before);
      expect(
        lines.some((l) => l.startsWith(`[v-event-error] reason=${c.reason}`)),
        `${c.name}: ${lines.join(' | ')}`,
      ).toBe(true);
    }
    const after = await rejected();
    const expected = new Map<string, number>();
    for (const c of cases()) expected.set(c.reason, (expected.get(c.reason) ?? 0) + 1);
    for (const [reason, n] of expected) expect(after.get(reason), reason).toBe((rejectedBefore.get(reason) ?? 0) + n);
    // Still serving after all of it.
    expect((await postEvent(t.url, beacon(t.account.id))).status).toBe(204);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });

  it('answers preflights only for published origins', async () => {
    const ok = await fetch(`${t.url}/v/event`, { method: 'OPTIONS', headers: { origin: t.account.origin, 'access-control-request-method': 'POST' } });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(t.account.origin);
    const bad = await fetch(`${t.url}/v/event`, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
    expect(bad.status).toBe(403);
    expect(bad.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await fetch(`${t.url}/nope/../../etc/passwd`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toBe('not-found');
  });
});

describe('rate limit per client', () => {
  const limited = useTestService(() => ({ redisUrl: redis.url, env: { RATE_LIMIT_PER_IP: '5' } }));

  it('answers 429 with Retry-After past the burst', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 30; i++) {
      const res = await postEvent(limited.url, beacon(limited.account.id));
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    expect(statuses.filter((s) => s === 204).length).toBeGreaterThanOrEqual(10);
    expect(statuses).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(limited.messages().some((m) => m.startsWith('[v-event-error] reason=rate-limited'))).toBe(true);
  });
});
