import { describe, expect, it } from 'vitest';
import { FlushRow, parseEntries, readStringField } from '../../src/adapters/redis/stream-entry.js';

const entry = (json: string) => ({ stream: 's', id: '1-0', table: 'events', row: Buffer.from(json), redelivered: false });

describe('flush: reading a stored row without parsing it', () => {
  it('reads top-level string fields of the stored JSON text', () => {
    const json = JSON.stringify({ account_id: 'acme', visitor_id: 'v-1', person_id: '', title: 'say "visitor_id":"v-x"', depth: 50 });
    expect(readStringField(json, 'account_id')).toBe('acme');
    expect(readStringField(json, 'visitor_id')).toBe('v-1');
    expect(readStringField(json, 'person_id')).toBe('');
  });

  it('answers null when only a full parse can tell', () => {
    expect(readStringField('{"a":1}', 'visitor_id')).toBeNull(); // absent
    expect(readStringField('{"visitor_id":7}', 'visitor_id')).toBeNull(); // not a string
    expect(readStringField('{"visitor_id":"a\\"b"}', 'visitor_id')).toBeNull(); // an escape
    expect(readStringField('{ "visitor_id": "spaced" }', 'visitor_id')).toBeNull(); // another writer's spacing
  });

  it('reads the top-level key only: nested objects, strings and duplicates as JSON.parse reads them', () => {
    expect(readStringField('{"p":{"visitor_id":"inner"},"visitor_id":"outer"}', 'visitor_id')).toBe('outer');
    expect(readStringField('{"p":[{"visitor_id":"inner"}],"q":"\\"visitor_id\\":\\"s\\"","n":1}', 'visitor_id')).toBeNull(); // only nested or inside a string
    expect(readStringField('{"visitor_id":"first","visitor_id":"last"}', 'visitor_id')).toBe('last');
    expect(readStringField('{"visitor_id":"a","visitor_id_2":"b"}', 'visitor_id')).toBe('a');
    expect(readStringField('{"visitor_id":"open', 'visitor_id')).toBeNull(); // a string left open
    expect(readStringField('{"visitor\\u005fid":"escaped key"}', 'visitor_id')).toBeNull(); // only a parse reads that key
    expect(new FlushRow(entry('{"visitor\\u005fid":"escaped key"}'), 'acme').field('visitor_id')).toBe('escaped key');
    expect(new FlushRow(entry('{"a":"x","n":12,"visitor_id":null}'), 'acme').field('visitor_id')).toBeUndefined();
  });

  it('falls back to parsing the row, so the answer is always the top-level value', () => {
    const rows = [
      '{"visitor_id":"a\\"b"}',
      '{"p":{"visitor_id":"inner"},"visitor_id":"outer"}',
      '{ "visitor_id": "spaced" }',
      '{"visitor_id":7}',
      '{"title":"x\\",\\"visitor_id\\":\\"forged","visitor_id":"real"}',
    ];
    for (const json of rows) {
      const parsed = JSON.parse(json) as Record<string, unknown>;
      const expected = typeof parsed.visitor_id === 'string' ? parsed.visitor_id : undefined;
      expect(new FlushRow(entry(json), 'acme').field('visitor_id'), json).toBe(expected);
    }
    expect(new FlushRow(entry('not json'), 'acme').field('visitor_id')).toBeUndefined();
    expect(new FlushRow(entry('[1]'), 'acme').parsed()).toBeUndefined();
  });

  it('appends entries without spreading them (a spread throws past ~120k arguments)', () => {
    const raw: ([string, string[]] | null)[] = [];
    for (let i = 0; i < 200_000; i++) raw.push([`${i}-0`, ['t', 'events', 'r', '{}']]);
    raw.push(null);
    const out = parseEntries('s', raw, false, [entry('{}')]);
    expect(out.length).toBe(200_001);
    expect(out[200_000]).toEqual({ stream: 's', id: '199999-0', table: 'events', row: Buffer.from('{}'), redelivered: false });
  });

  it('keeps a Buffer reply as the stored bytes, and reads fields of UTF-8 rows exactly', () => {
    const json = JSON.stringify({ account_id: 'acme', title: 'Café "Zoë" ✓', visitor_id: 'v-ü', person_id: 'p-1' });
    const [e] = parseEntries('s', [[Buffer.from('5-1'), [Buffer.from('t'), Buffer.from('events'), Buffer.from('r'), Buffer.from(json)]]], true);
    expect(e).toMatchObject({ stream: 's', id: '5-1', table: 'events', redelivered: true });
    expect(e!.row.equals(Buffer.from(json))).toBe(true);
    const row = new FlushRow(e!, 'acme');
    expect(row.field('visitor_id')).toBe('v-ü');
    expect(row.field('person_id')).toBe('p-1');
    expect(row.field('title')).toBe('Café "Zoë" ✓');
    expect(row.parsed()?.title).toBe('Café "Zoë" ✓');
  });
});
