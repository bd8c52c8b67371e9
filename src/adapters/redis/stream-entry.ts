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
const OPEN_BRACE = 0x7b;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Index of `"name":` as a top-level key (preceded by `{` or `,`), searching from `from`; -1 when none. */
function keyAt(bytes: Buffer, needle: string, from: number): number {
  let at = bytes.indexOf(needle, from, 'latin1');
  while (at > 0 && bytes[at - 1] !== COMMA && bytes[at - 1] !== OPEN_BRACE) at = bytes.indexOf(needle, at + 1, 'latin1');
  return at;
}

/**
 * The value of a top-level string field of a row's JSON text, read without parsing the rest, or
 * `null` when the text must be parsed to know. Rows are flat objects written by JSON.stringify:
 * outside a string every `"` is a delimiter (inside one it is escaped), so `,"name":` or
 * `{"name":` is the key itself. A key found twice (a nested object, a duplicate), none found
 * (another writer's spacing, or the row lacks it) and a value that is not a plain string all
 * answer `null`. On the UTF-8 bytes: `"`, `\`, `,` and `{` are ASCII and never part of a
 * multi-byte character, so the byte search is exact.
 */
export function readStringField(json: string | Buffer, name: string): string | null {
  const bytes = typeof json === 'string' ? Buffer.from(json) : json;
  const needle = `"${name}":`;
  const at = keyAt(bytes, needle, 0);
  if (at <= 0) return null;
  if (keyAt(bytes, needle, at + needle.length) > 0) return null;
  const start = at + needle.length;
  if (bytes[start] !== QUOTE) return null;
  const end = bytes.indexOf(QUOTE, start + 1);
  if (end < 0) return null;
  // An escape: the closing quote may be escaped too; let JSON.parse read it.
  if (bytes.subarray(start + 1, end).includes(BACKSLASH)) return null;
  return bytes.toString('utf8', start + 1, end);
}

/**
 * A row of a batch as the filters see it: the stream entry with its stored bytes, and cheap
 * access to the fields they read (ids), so the flusher never decodes or parses rows it only
 * forwards.
 */
export class FlushRow {
  #parsed: Record<string, unknown> | null | undefined;

  constructor(readonly entry: StreamEntry) {}

  /** A top-level string field (undefined when absent or not a string). */
  field(name: string): string | undefined {
    const fast = readStringField(this.entry.row, name);
    if (fast !== null) return fast;
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
