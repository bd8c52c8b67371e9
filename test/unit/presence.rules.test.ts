import { describe, expect, it } from 'vitest';
import {
  MAX_PRESENCE_PATH,
  isCrossSegment,
  pageSegmentOf,
  percentages,
  presencePath,
  sampleSlot,
  storedTsMs,
  toPresenceEvent,
} from '../../src/domain/presence.rules.js';
import type { StoredEvent } from '../../src/domain/stored-event.js';

describe('presencePath', () => {
  it('drops the query string and fragment', () => {
    expect(presencePath('/listings/12?utm_source=x#photos')).toBe('/listings/12');
    expect(presencePath('/a#top')).toBe('/a');
    expect(presencePath('/')).toBe('/');
  });

  it(`cuts paths longer than ${MAX_PRESENCE_PATH} characters`, () => {
    const p = presencePath(`/${'x'.repeat(2000)}`);
    expect(p).toHaveLength(MAX_PRESENCE_PATH);
    expect(p.startsWith('/xxx')).toBe(true);
  });
});

describe('pageSegmentOf', () => {
  const segments = { '/north/': 'north', '/north/coast/': 'coast', '/south/': 'south' };

  it('maps a page to the segment of the longest matching prefix, whatever the key order', () => {
    expect(pageSegmentOf('/north/listing-1', segments)).toBe('north');
    expect(pageSegmentOf('/north/coast/listing-2', segments)).toBe('coast');
    expect(pageSegmentOf('/north/coast/listing-2', { '/north/coast/': 'coast', '/north/': 'north' })).toBe('coast');
    expect(pageSegmentOf('/south/', segments)).toBe('south');
  });

  it('is empty when no prefix matches', () => {
    expect(pageSegmentOf('/about', segments)).toBe('');
    expect(pageSegmentOf('/north', segments)).toBe('');
    expect(pageSegmentOf('/x', {})).toBe('');
  });
});

describe('isCrossSegment', () => {
  it('needs both segments known and different', () => {
    expect(isCrossSegment('north', 'south')).toBe(true);
    expect(isCrossSegment('north', 'north')).toBe(false);
    expect(isCrossSegment('', 'south')).toBe(false);
    expect(isCrossSegment('north', '')).toBe(false);
  });
});

describe('percentages', () => {
  it('splits authenticated and anonymous to one decimal, summing to 100', () => {
    expect(percentages(3, 1)).toEqual({ authenticated: 33.3, anonymous: 66.7 });
    expect(percentages(8, 8)).toEqual({ authenticated: 100, anonymous: 0 });
    expect(percentages(7, 0)).toEqual({ authenticated: 0, anonymous: 100 });
    const p = percentages(6, 1);
    expect(p.authenticated + p.anonymous).toBeCloseTo(100, 5);
  });

  it('is 0/0 when nobody is online', () => {
    expect(percentages(0, 0)).toEqual({ authenticated: 0, anonymous: 0 });
  });
});

describe('toPresenceEvent', () => {
  const stored: StoredEvent = {
    account_id: 'acme',
    event_id: '5c0f2b8e-6d7c-4c55-9d2e-3a1f2b3c4d5e',
    ts: '2026-11-20 08:15:02.120',
    received_at: '2026-11-20 08:15:02.200',
    type: 'pageview',
    session_id: 's-1',
    visitor_id: 'v-1',
    person_id: 'p-42',
    path: '/north/listing-1?ref=mail',
    url: 'https://acme.example/north/listing-1?ref=mail',
    title: 'T'.repeat(600),
    referrer: '',
    label: 'floorplan',
    depth: 50,
    dwell_ms: 0,
    listing: 'listing-1',
    rec_id: '',
    segment: 'south',
    props: '',
    ua_family: 'Firefox',
    device: 'mobile',
    referrer_host: '',
    channel: 'direct',
    country: '',
    ip_hash: 'h',
  };

  it('carries what presence needs, with the page and its segment', () => {
    const p = toPresenceEvent(stored, { '/north/': 'north' });
    expect(p).toEqual({
      t: 'pageview',
      v: 'v-1',
      s: 's-1',
      p: '/north/listing-1',
      ti: 'T'.repeat(256),
      ua: 'Firefox',
      dv: 'mobile',
      pe: 'p-42',
      sg: 'south',
      ps: 'north',
      id: stored.event_id,
      lb: 'floorplan',
      dp: 50,
      ls: 'listing-1',
      ts: Date.UTC(2026, 10, 20, 8, 15, 2, 120),
    });
  });

  it('parses stored times as UTC and unparsable ones as 0', () => {
    expect(storedTsMs('1970-01-01 00:00:01.500')).toBe(1500);
    expect(storedTsMs('nonsense')).toBe(0);
  });
});

describe('sampleSlot', () => {
  it('floors to the start of the slot', () => {
    expect(sampleSlot(Date.UTC(2026, 0, 1, 10, 5, 59, 999), 60_000)).toBe(Date.UTC(2026, 0, 1, 10, 5));
    expect(sampleSlot(Date.UTC(2026, 0, 1, 10, 6), 60_000)).toBe(Date.UTC(2026, 0, 1, 10, 6));
  });
});

describe('presenceArg (the Lua scripts read it by position)', () => {
  const input = {
    t: 't',
    v: 'v',
    s: 's',
    p: 'p',
    ti: 'ti',
    ua: 'ua',
    dv: 'dv',
    pe: 'pe',
    sg: 'sg',
    ps: 'ps',
    id: 'id',
    lb: 'lb',
    dp: 7,
    ls: 'ls',
    ts: 9,
  };

  it('packs as many fields, in the order, as read_event in redis/includes/presence-apply.lua', async () => {
    const { readFileSync } = await import('node:fs');
    const { presenceArg, PRESENCE_EVENT_FIELDS } = await import('../../src/domain/presence.rules.js');
    const lua = readFileSync(new URL('../../redis/includes/presence-apply.lua', import.meta.url), 'utf8');
    expect(Number(/local EVENT_FIELDS = (\d+)/.exec(lua)?.[1])).toBe(PRESENCE_EVENT_FIELDS);
    const order = [...lua.slice(lua.indexOf('local function read_event')).matchAll(/(\w+) = (?:tonumber\()?f\[(\d+)\]/g)].map((m) => [m[1], Number(m[2]) - 1]);
    const fields = presenceArg(input).split('\x1f');
    expect(fields).toHaveLength(PRESENCE_EVENT_FIELDS);
    expect(order).toHaveLength(PRESENCE_EVENT_FIELDS);
    for (const [name, at] of order) expect(fields[at as number], String(name)).toBe(name === 'dp' ? '7' : name === 'ts' ? '9' : name);
  });

  it('keeps a separator inside a text field from shifting the fields after it', async () => {
    const { presenceArg, PRESENCE_EVENT_FIELDS } = await import('../../src/domain/presence.rules.js');
    const fields = presenceArg({ ...input, p: '/a\x1fb', ti: 'T\x1f\x1f' }).split('\x1f');
    expect(fields).toHaveLength(PRESENCE_EVENT_FIELDS);
    expect(fields[3]).toBe('/a\ufffdb');
    expect(fields[4]).toBe('T\ufffd\ufffd');
    expect(fields[5]).toBe('ua');
  });
});
