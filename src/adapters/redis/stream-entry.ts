/**
 * One entry read from an account stream: the target table and the row as the bytes it was stored
 * as (JSON text, UTF-8). The flusher reads stream replies as Buffers: decoding 50,000 rows into
 * JavaScript strings, only to encode them again for the insert, cost about as much CPU as the
 * rest of the read.
 */
export interface StreamEntry {
  stream: string;
  id: string;
  table: string;
  row: Buffer;
  /** Read again after its first consumer died: it may already be in ClickHouse. */
  redelivered: boolean;
}

type Bulk = string | Buffer;
type RawEntry = [id: Bulk, fields: Bulk[]] | null;

const toBuffer = (v: Bulk | undefined): Buffer => (v === undefined ? Buffer.alloc(0) : Buffer.isBuffer(v) ? v : Buffer.from(v));

/**
 * XREADGROUP / XAUTOCLAIM entries (their Buffer or string replies) → StreamEntry, appended to
 * `out` (deleted entries come back as null and are skipped). Appending in a loop rather than
 * `out.push(...list)`: a spread passes every entry as an argument and throws RangeError past
 * ~120k of them.
 */
export function parseEntries(stream: string, raw: readonly RawEntry[], redelivered: boolean, out: StreamEntry[] = []): StreamEntry[] {
  for (const e of raw) {
    if (!e) continue;
    const [id, fields] = e;
    let table = '';
    let row: Bulk | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i]!;
      // Field names are one byte: compare without decoding.
      const c = typeof name === 'string' ? (name.length === 1 ? name.charCodeAt(0) : -1) : name.length === 1 ? name[0] : -1;
      if (c === 0x74) table = String(fields[i + 1]);
      else if (c === 0x72) row = fields[i + 1];
    }
    out.push({ stream, id: String(id), table, row: toBuffer(row), redelivered });
  }
  return out;
}

const COMMA = 0x2c;
const COLON = 0x3a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const SPACE = 0x20;

/** A member's value that is no string (`valueStart`), or a string with an escape in it. */
const NOT_A_STRING = -1;
const ESCAPED = -2;

/** Members indexed per row at most; a row with more is parsed instead. */
const MAX_MEMBERS = 512;
const scratch = new Int32Array(MAX_MEMBERS * 4);

/**
 * The top-level members of a row's JSON text in one pass over its bytes, nothing decoded: per
 * member its key's start and end, then its value's start and end when the value is a plain
 * string (else NOT_A_STRING or ESCAPED). `null` when the text is not such an object as
 * JSON.stringify writes (another first byte, whitespace between tokens, an escaped key, a string
 * left open): then only a full parse can tell. Nested objects and arrays are skipped by depth, and
 * strings by their quotes, so a key inside a nested value or a string is never taken for a
 * top-level one. On the UTF-8 bytes: the delimiters are ASCII, never part of a multi-byte
 * character, so the scan is exact. (Measured: a third of a byte search per field, and one pass
 * serves every field a filter reads.)
 */
function indexMembers(bytes: Buffer): Int32Array | null {
  const n = bytes.length;
  if (bytes[0] !== OPEN_BRACE) return null;
  let k = 0;
  let depth = 1;
  let expectKey = true;
  let i = 1;
  while (i < n) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      const start = i + 1;
      const end = closingQuote(bytes, start);
      if (end < 0) return null;
      if (depth === 1 && expectKey) {
        if (stringHadEscape || bytes[end + 1] !== COLON || k === scratch.length) return null;
        scratch[k] = start;
        scratch[k + 1] = end;
        i = end + 2;
        if (bytes[i] === QUOTE) {
          const valueEnd = closingQuote(bytes, i + 1);
          if (valueEnd < 0) return null;
          scratch[k + 2] = stringHadEscape ? ESCAPED : i + 1;
          scratch[k + 3] = valueEnd;
          i = valueEnd + 1;
        } else scratch[k + 2] = NOT_A_STRING;
        k += 4;
        expectKey = false;
        continue;
      }
      i = end + 1;
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
    else if (c === COMMA) expectKey = depth === 1;
    else if (c <= SPACE) return null;
    i++;
  }
  return scratch.slice(0, k);
}

/** Set by {@link closingQuote}: the string it just scanned held an escape. */
let stringHadEscape = false;

/** The offset of the quote closing the string whose text starts at `from`, or -1 when it is left open. */
function closingQuote(bytes: Buffer, from: number): number {
  stringHadEscape = false;
  for (let i = from; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) return i;
    if (c === BACKSLASH) {
      stringHadEscape = true;
      i++;
    }
  }
  return -1;
}

/** The value offset of the member named `name` (the last, as JSON.parse reads duplicates), or -3 when absent. */
function memberValue(bytes: Buffer, members: Int32Array, name: string): number {
  let found = -3;
  const len = name.length;
  for (let m = 0; m < members.length; m += 4) {
    const at = members[m]!;
    if (members[m + 1]! - at !== len) continue;
    let j = 0;
    while (j < len && bytes[at + j] === name.charCodeAt(j)) j++;
    if (j === len) found = m;
  }
  return found;
}

/**
 * The string value of the member named `name`, from its bytes: `undefined` when the member is
 * absent or no string, `null` when only a full parse can tell (an escape in it).
 */
function memberString(bytes: Buffer, members: Int32Array, name: string): string | null | undefined {
  const m = memberValue(bytes, members, name);
  if (m < 0) return undefined;
  const start = members[m + 2]!;
  if (start >= 0) return bytes.toString('utf8', start, members[m + 3]);
  return start === NOT_A_STRING ? undefined : null;
}

/**
 * The value of a top-level string field of a row's JSON text, read without parsing the rest, or
 * `null` when it is absent, not a string, or only a full parse can tell (an escape in it, a text
 * not written by JSON.stringify). See {@link indexMembers}.
 */
export function readStringField(json: string | Buffer, name: string): string | null {
  const bytes = typeof json === 'string' ? Buffer.from(json) : json;
  const members = indexMembers(bytes);
  return (members && memberString(bytes, members, name)) ?? null;
}

/**
 * A row of a batch as the filters see it: the stream entry with its stored bytes, the account
 * whose stream it was read from, and cheap access to the fields they read (ids), so the flusher
 * never decodes or parses rows it only forwards.
 */
export class FlushRow {
  #parsed: Record<string, unknown> | null | undefined;
  /** The row's top-level members (see indexMembers), found on the first field read; null: parse. */
  #members: Int32Array | null | undefined;

  constructor(
    readonly entry: StreamEntry,
    /** The stream's account: the gateway appends a row only to the stream of its own account. */
    readonly account: string,
  ) {}

  /** A top-level string field (undefined when absent or not a string). */
  field(name: string): string | undefined {
    const bytes = this.entry.row;
    if (this.#members === undefined) this.#members = indexMembers(bytes);
    if (this.#members) {
      const fast = memberString(bytes, this.#members, name);
      if (fast !== null) return fast;
    }
    const v = this.parsed()?.[name];
    return typeof v === 'string' ? v : undefined;
  }

  /** The whole row, parsed once on first use (undefined when the text is not a JSON object). */
  parsed(): Record<string, unknown> | undefined {
    if (this.#parsed === undefined) {
      try {
        const v = JSON.parse(this.entry.row.toString('utf8')) as unknown;
        this.#parsed = v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
      } catch {
        this.#parsed = null;
      }
    }
    return this.#parsed ?? undefined;
  }
}

/**
 * Decides which rows of a batch are dropped (e.g. rows of an erased person still in the stream).
 * Rows reach ClickHouse as the bytes they were stored as: a filter reads the fields it needs
 * with `row.field(name)` (ids, read without parsing the row) or, rarely, `row.parsed()`.
 */
export type RowFilter = (rows: FlushRow[]) => Promise<FlushRow[]>;
