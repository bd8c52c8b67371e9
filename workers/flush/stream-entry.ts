/** One entry read from an account stream: the target table and the row, still as JSON text. */
export interface StreamEntry {
  stream: string;
  id: string;
  table: string;
  json: string;
  /** Read again after its first consumer died: it may already be in ClickHouse. */
  redelivered: boolean;
}

type RawEntry = [id: string, fields: string[]] | null;

/** XREADGROUP / XAUTOCLAIM entries → StreamEntry (deleted entries come back as null and are skipped). */
export function parseEntries(stream: string, raw: RawEntry[], redelivered: boolean): StreamEntry[] {
  const out: StreamEntry[] = [];
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
