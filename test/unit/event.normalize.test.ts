import { describe, expect, it } from 'vitest';
import { zBeaconEvent } from '../../src/domain/event.schema.js';
import { CLOCK_FUTURE_MS, CLOCK_PAST_MS, clampTs, normalizeEvent } from '../../src/domain/event.normalize.js';
import { chTime } from '../../src/domain/stored-event.js';

const base = { account: 'acme', type: 'pageview', sessionId: 's-1', visitorId: 'v-1', path: '/x' };

describe('event schema', () => {
  it('accepts a minimal event and drops unknown fields', () => {
    const e = zBeaconEvent.parse({ ...base, extra: 'ignored' });
    expect(e).toEqual(base);
  });

  it.each([
    [{ type: 'purchase' }, 'type'],
    [{ path: 'no-slash' }, 'path'],
    [{ depth: 33 }, 'depth'],
    [{ sessionId: 'has space' }, 'sessionId'],
    [{ account: 'UPPER' }, 'account'],
    [{ eventId: 'not-a-uuid' }, 'eventId'],
    [{ props: { big: 'x'.repeat(600) } }, 'props'],
    [{ props: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i])) }, 'props'],
    [{ dwellMs: -1 }, 'dwellMs'],
  ])('rejects %j on %s', (over, field) => {
    const r = zBeaconEvent.safeParse({ ...base, ...over });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path[0])).toContain(field);
  });
});

describe('normalizeEvent', () => {
  const now = Date.UTC(2026, 10, 23, 12, 0, 0);
  const ctx = { receivedAt: now, userAgent: 'Mozilla/5.0 (iPhone) Mobile Safari/604.1', ipHash: 'h', personId: 'p-1' };

  it('clamps client time into [now - 24h, now + 60s]', () => {
    expect(clampTs(undefined, now)).toBe(now);
    expect(clampTs(now - 1000, now)).toBe(now - 1000);
    expect(clampTs(0, now)).toBe(now - CLOCK_PAST_MS);
    expect(clampTs(now + 10 * 3600_000, now)).toBe(now + CLOCK_FUTURE_MS);
  });

  it('fills columns, keeps a client event id, and enriches', () => {
    const id = '2b1f8a5e-9c3d-4e7f-8a1b-2c3d4e5f6a7b';
    const e = normalizeEvent(
      zBeaconEvent.parse({ ...base, eventId: id, ts: now - 5000, referrer: 'https://www.google.com/search?q=x', url: 'https://acme.example/x', depth: 50 }),
      'acme',
      ctx,
    );
    expect(e).toMatchObject({
      account_id: 'acme',
      event_id: id,
      ts: chTime(now - 5000),
      received_at: chTime(now),
      person_id: 'p-1',
      depth: 50,
      ua_family: 'Safari',
      device: 'mobile',
      referrer_host: 'www.google.com',
      channel: 'search',
      ip_hash: 'h',
    });
    expect(chTime(now)).toBe('2026-11-23 12:00:00.000');
  });

  it('assigns a fresh uuid when the client sent none', () => {
    const a = normalizeEvent(zBeaconEvent.parse(base), 'acme', ctx);
    const b = normalizeEvent(zBeaconEvent.parse(base), 'acme', ctx);
    expect(a.event_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.event_id).not.toBe(b.event_id);
  });
});
