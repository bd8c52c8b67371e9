import { describe, expect, it } from 'vitest';
import { formatJsonError, jsonErrorOffset, locateJsonError } from '../../src/json-error.js';

function parseError(text: string): Error {
  try {
    JSON.parse(text);
  } catch (err) {
    return err as Error;
  }
  throw new Error(`${JSON.stringify(text)} is valid JSON`);
}

describe('where a JSON text is broken', () => {
  const broken = [
    '{\n  "a": 1,\n}',
    '[1 2]',
    '{"a": 1\n',
    '{"a":"b\nc"}',
    '{"accounts": []} x',
    '{"a": 01}',
    '{"a": "\\x"}',
    '{"a": "\\u12g4"}',
    '[1,]',
    '{"a" 1}',
    '-',
    '{"a": 1.}',
    '[tru]',
  ];

  it('agrees with JSON.parse wherever V8 names a position', () => {
    let compared = 0;
    for (const text of broken) {
      const m = /at position (\d+)/.exec(parseError(text).message);
      if (!m) continue;
      compared++;
      expect(jsonErrorOffset(text), JSON.stringify(text)).toBe(Number(m[1]));
    }
    expect(compared).toBeGreaterThan(6);
  });

  it('finds the place where V8 names none: single quotes, comments, bare words, an early end', () => {
    expect(jsonErrorOffset("{ 'id': 'acme' }")).toBe(2);
    expect(jsonErrorOffset('{\n  // the demo\n  "id": "x"\n}')).toBe(4);
    expect(jsonErrorOffset('{"origins": [https://a.example]}')).toBe(13);
    expect(jsonErrorOffset('{"a": [1, 2')).toBe(11);
    expect(jsonErrorOffset('')).toBe(0);
  });

  it('gives 1-based line and column, the reason without V8 offsets or excerpts, and the line', () => {
    const text = '{ "accounts": [\n  { "id": \'acme\' }\n] }\n';
    const at = locateJsonError(text, parseError(text));
    expect(at).toEqual({ line: 2, column: 11, reason: "Unexpected token '''", source: '  { "id": \'acme\' }' });
    const trailing = '{\n  "a": 1,\n}';
    expect(locateJsonError(trailing, parseError(trailing))).toMatchObject({ line: 3, column: 1, reason: 'Expected double-quoted property name' });
  });

  it('formats file:line:col with a caret under the column, also for one line of a longer file', () => {
    const line = '{"type": "pageview", "path": /x}';
    expect(formatJsonError('events.ndjson', line, parseError(line), 7)).toBe(
      `events.ndjson:7:30: not valid JSON: Unexpected token '/'\n  ${line}\n  ${' '.repeat(29)}^`,
    );
  });

  it('shows a window of a long minified line, the caret still under the culprit', () => {
    const text = `[${'1,'.repeat(500)}x]`;
    const out = formatJsonError('f.json', text, parseError(text)).split('\n');
    expect(out[0]).toBe(`f.json:1:1002: not valid JSON: Unexpected token 'x'`);
    expect(out[1]!.length).toBeLessThanOrEqual(82);
    expect(out[1]![out[2]!.indexOf('^')]).toBe('x');
  });
});
