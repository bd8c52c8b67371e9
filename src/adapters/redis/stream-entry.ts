/** One entry read from an account stream: the target table and the row as the JSON text it was stored as. */
export interface StreamEntry {
  stream: string;
  id: string;
  table: string;
  json: string;
  /** Read again after its first consumer died: it may already be in ClickHouse. */
  redelivered: boolean;
}

type RawEntry = [id: string, fields: string[]] | null;

/**
 * XREADGROUP / XAUTOCLAIM entries → StreamEntry, appended to `out` (deleted entries come back as
 * null and are skipped). Appending in a loop rather than `out.push(...list)`: a spread passes
 * every entry as an argument and throws RangeError past ~120k of them.
 */
export function parseEntries(stream: string, raw: readonly RawEntry[], redelivered: boolean, out: StreamEntry[] = []): StreamEntry[] {
  for (const e of raw) {
    if (!e) continue;
    const [id, fields] = e;
    let table = '';
    let json = '';
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === 't') table = fields[i + 1]!;
      else if (fields[i] === 'r') json = fields[i + 1]!;
    }
    out.push({ stream, id, table, json, redelivered });
  }
  return out;
}

/**
 * The value of a top-level string field of a row's JSON text, read without parsing the rest, or
 * `null` when the text must be parsed to know. Rows are flat objects written by JSON.stringify:
 * outside a string every `"` is a delimiter (inside one it is escaped), so `,"name":` or
 * `{"name":` is the key itself. A key found twice (a nested object, a duplicate), none found
 * (another writer's spacing, or the row lacks it) and a value that is not a plain string all
 * answer `null`.
 */
export function readStringField(json: string, name: string): string | null {
  const needle = `"${name}":`;
  let at = json.indexOf(needle);
  while (at > 0 && json[at - 1] !== ',' && json[at - 1] !== '{') at = json.indexOf(needle, at + 1);
  if (at <= 0) return null;
  let again = json.indexOf(needle, at + needle.length);
  while (again > 0 && json[again - 1] !== ',' && json[again - 1] !== '{') again = json.indexOf(needle, again + 1);
  if (again > 0) return null;
  const start = at + needle.length;
  if (json[start] !== '"') return null;
  const end = json.indexOf('"', start + 1);
  if (end < 0) return null;
  const value = json.slice(start + 1, end);
  // An escape: the closing quote may be escaped too; let JSON.parse read it.
  return value.includes('\\') ? null : value;
}

/**
 * A row of a batch as the filters see it: the stream entry with its JSON text, and cheap access
 * to the fields they read (ids), so the flusher never parses rows it only forwards.
 */
export class FlushRow {
  #parsed: Record<string, unknown> | null | undefined;

  constructor(readonly entry: StreamEntry) {}

  /** A top-level string field (undefined when absent or not a string). */
  field(name: string): string | undefined {
    const fast = readStringField(this.entry.json, name);
    if (fast !== null) return fast;
    const v = this.parsed()?.[name];
    return typeof v === 'string' ? v : undefined;
  }

  /** The whole row, parsed once on first use (undefined when the text is not a JSON object). */
  parsed(): Record<string, unknown> | undefined {
    if (this.#parsed === undefined) {
      try {
        const v = JSON.parse(this.entry.json) as unknown;
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
 * Rows reach ClickHouse as the JSON text they were stored as: a filter reads the fields it needs
 * with `row.field(name)` (ids, read without parsing the row) or, rarely, `row.parsed()`.
 */
export type RowFilter = (rows: FlushRow[]) => Promise<FlushRow[]>;
