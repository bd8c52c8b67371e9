import { describe, expect, it } from 'vitest';
import { clickEventId, parseLogLine, parseLogText, recKey } from '../../src/domain/log-lines.js';

const REC = '2026-11-20T08:15:02.120Z [property-recommended] account=acme session=s-123 listing=12-high-st rec=r-9 person=p-42';
const CLICK = '2026-11-20T08:17:40.004Z [property-card-click] account=acme session=s-123 listing=12-high-st rec=r-9';

describe('backfill log lines', () => {
  it('parses both tags with their keys and the leading time', () => {
    expect(parseLogLine(REC, 1, 'acme')).toEqual({
      ok: true,
      record: {
        kind: 'recommended',
        ts: Date.UTC(2026, 10, 20, 8, 15, 2, 120),
        account: 'acme',
        session: 's-123',
        listing: '12-high-st',
        rec: 'r-9',
        person: 'p-42',
        line: 1,
      },
    });
    const c = parseLogLine(CLICK, 7, 'acme');
    expect(c).toMatchObject({ ok: true, record: { kind: 'click', ts: Date.UTC(2026, 10, 20, 8, 17, 40, 4), person: '', line: 7 } });
  });

  it('takes keys in any order, ignores unknown keys and free words, accepts words before the tag', () => {
    const line = '2026-11-20T08:15:02Z INFO recommender [property-recommended] note rec=r-1 listing=l-1 extra=x session=s-1 account=acme';
    expect(parseLogLine(line, 1, 'acme')).toMatchObject({
      ok: true,
      record: { rec: 'r-1', listing: 'l-1', session: 's-1', ts: Date.UTC(2026, 10, 20, 8, 15, 2) },
    });
  });

  it('reads zone offsets, a space separator and a missing zone as UTC', () => {
    const at = (ts: string) =>
      (parseLogLine(`${ts} [property-card-click] account=a session=s listing=l rec=r`, 1, 'a') as { record: { ts: number } }).record.ts;
    expect(at('2026-11-20T10:15:02.5+02:00')).toBe(Date.UTC(2026, 10, 20, 8, 15, 2, 500));
    expect(at('2026-11-20 08:15:02')).toBe(Date.UTC(2026, 10, 20, 8, 15, 2));
    expect(at('2026-11-20T08:15:02,123456')).toBe(Date.UTC(2026, 10, 20, 8, 15, 2, 123));
  });

  it('reports why a tagged line is invalid', () => {
    expect(parseLogLine('[property-card-click] account=acme session=s listing=l rec=r', 1, 'acme')).toEqual({ ok: false, reason: 'timestamp' });
    expect(parseLogLine('2026-13-45T99:00:00Z [property-card-click] account=acme session=s listing=l rec=r', 1, 'acme')).toEqual({
      ok: false,
      reason: 'timestamp',
    });
    expect(parseLogLine('2026-11-20T08:00:00Z [property-card-click] account=acme session=s listing=l', 1, 'acme')).toEqual({
      ok: false,
      reason: 'missing-key',
    });
    expect(parseLogLine('2026-11-20T08:00:00Z [property-card-click] account=ACME! session=s listing=l rec=r', 1, 'acme')).toEqual({
      ok: false,
      reason: 'bad-value',
    });
    // Every id through the schema the rest of the service uses for it.
    for (const bad of [
      'session={x:String}',
      'session=../../x',
      'listing=../../x',
      'listing=a/b',
      'rec={x:String}',
      'person=../../x',
      'person={x:String}',
      `session=${'s'.repeat(129)}`,
    ]) {
      const line = `2026-11-20T08:00:00Z [property-recommended] account=acme session=s listing=l rec=r ${bad}`;
      expect(parseLogLine(line, 1, 'acme'), bad).toEqual({ ok: false, reason: 'bad-value' });
    }
    expect(
      parseLogLine('2026-11-20T08:00:00Z [property-recommended] account=acme session=s-1.a:b listing=12-high_st~2 rec=r-9 person=crm.42', 1, 'acme'),
    ).toMatchObject({ ok: true });
    expect(parseLogLine('2026-11-20T08:00:00Z [property-card-click] account=other session=s listing=l rec=r', 1, 'acme')).toEqual({
      ok: false,
      reason: 'other-account',
    });
  });

  it('ignores lines without a tag', () => {
    expect(parseLogLine('2026-11-20T08:00:00Z GET /healthz 200', 1, 'acme')).toBeNull();
  });

  it('counts a whole text over a half-open window', () => {
    const text = [
      '2026-11-20T07:59:59.999Z [property-recommended] account=acme session=s1 listing=a rec=r1', // before from
      '2026-11-20T08:00:00.000Z [property-recommended] account=acme session=s1 listing=a rec=r1', // at from: in
      '2026-11-20T08:30:00.000Z [property-card-click] account=acme session=s1 listing=a rec=r1',
      'garbage line',
      '',
      '2026-11-20T08:40:00.000Z [property-card-click] account=acme session=s1',
      '2026-11-20T08:45:00.000Z [property-card-click] account=beta session=s9 listing=a rec=r1',
      '2026-11-20T09:00:00.000Z [property-card-click] account=acme session=s1 listing=a rec=r1', // at to: out
    ].join('\r\n');
    const p = parseLogText(`${text}\n`, 'acme', { from: Date.parse('2026-11-20T08:00:00Z'), to: Date.parse('2026-11-20T09:00:00Z') });
    expect(p.records.map((r) => [r.kind, r.line])).toEqual([
      ['recommended', 2],
      ['click', 3],
    ]);
    expect(p.outsideWindow).toBe(2);
    expect(p.invalid).toBe(2);
    expect(p.invalidReasons).toEqual({ timestamp: 0, 'missing-key': 1, 'bad-value': 0, 'other-account': 1 });
    expect(p.ignored).toBe(2);
    expect(p.lines).toBe(8);
  });

  it('derives the same click event id from the same line, and a different one otherwise', () => {
    const base = { account: 'acme', session: 's', listing: 'l', rec: 'r', ts: 1000 };
    const id = clickEventId(base);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(clickEventId({ ...base })).toBe(id);
    expect(clickEventId({ ...base, ts: 1001 })).not.toBe(id);
    expect(clickEventId({ ...base, account: 'other' })).not.toBe(id);
    expect(recKey({ rec: 'a', listing: 'b', session: 'c' })).not.toBe(recKey({ rec: 'a', listing: 'bc', session: '' }));
  });
});
