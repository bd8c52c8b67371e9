/**
 * Where a JSON text is broken, for messages to people who edit JSON by hand (the accounts file,
 * the CLI's event files). V8's JSON.parse names a character offset for some errors only
 * ("Unexpected token 'x', … is not valid JSON" has none, and that is the message for single
 * quotes, comments and bare words), so the offset comes from a small scan of the grammar.
 */

export interface JsonErrorLocation {
  /** 1-based line and column of the first character that cannot be JSON. */
  line: number;
  column: number;
  /** JSON.parse's reason without its offset or quoted excerpt. */
  reason: string;
  /** The offending line, for showing under the message with a caret. */
  source: string;
}

/** Longest excerpt of the offending line shown under a message. */
const EXCERPT = 80;

/** Offset of the first character at which `text` stops being one JSON value. */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw new JsonStop(i);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const expect = (c: string) => {
    if (text[i] !== c) fail();
    i++;
  };
  const digits = () => {
    const start = i;
    while (text[i]! >= '0' && text[i]! <= '9') i++;
    if (i === start) fail();
  };
  const word = (w: string) => {
    for (const c of w) expect(c);
  };
  const string = () => {
    expect('"');
    for (;;) {
      const c = text[i];
      if (c === undefined || c < ' ') fail();
      i++;
      if (c === '"') return;
      if (c !== '\\') continue;
      const e = text[i];
      if (e === 'u') {
        i++;
        for (let k = 0; k < 4; k++) {
          if (!/[0-9a-fA-F]/.test(text[i] ?? '')) fail();
          i++;
        }
      } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++;
      else fail();
    }
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) return void i++;
      for (;;) {
        if (c === '{') {
          ws();
          string();
          ws();
          expect(':');
        }
        value();
        ws();
        if (text[i] === close) return void i++;
        expect(',');
      }
    }
    if (c === '"') return string();
    if (c === 't') return word('true');
    if (c === 'f') return word('false');
    if (c === 'n') return word('null');
    if (c === '-') i++;
    if (text[i] === '0') i++;
    else digits();
    if (text[i] === '.') {
      i++;
      digits();
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      digits();
    }
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
  } catch (err) {
    if (err instanceof JsonStop) return err.offset;
    // Nesting deeper than the stack: JSON.parse's own message is all there is.
    return text.length;
  }
  return text.length;
}

class JsonStop {
  constructor(readonly offset: number) {}
}

/** Line, column and reason of the error JSON.parse threw for `text`. */
export function locateJsonError(text: string, err: unknown): JsonErrorLocation {
  const offset = Math.min(jsonErrorOffset(text), text.length);
  const before = text.slice(0, offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  const lineEnd = text.indexOf('\n', offset);
  const reason = (err instanceof Error ? err.message : String(err))
    .replace(/ in JSON at position \d+.*$/s, '')
    .replace(/, (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s, '');
  return {
    line: before.split('\n').length,
    column: offset - lineStart + 1,
    reason,
    source: text.slice(lineStart, lineEnd < 0 ? text.length : lineEnd).replace(/\r$/, ''),
  };
}

/**
 * `file:line:col: not valid JSON: reason`, then the line and a caret under the column.
 * `firstLine` is the file line `text` starts on (for one line of a JSON-lines file).
 */
export function formatJsonError(file: string, text: string, err: unknown, firstLine = 1): string {
  const at = locateJsonError(text, err);
  at.line += firstLine - 1;
  // A long (minified) line is shown as a window around the column.
  const from = Math.max(0, Math.min(at.column - 1 - EXCERPT / 2, at.source.length - EXCERPT));
  const src = at.source.slice(from, from + EXCERPT).replace(/\t/g, ' ');
  return `${file}:${at.line}:${at.column}: not valid JSON: ${at.reason}\n  ${src}\n  ${' '.repeat(at.column - 1 - from)}^`;
}
