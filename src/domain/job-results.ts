/**
 * What the erasure and backfill jobs return: stored as the BullMQ job's result, sent by
 * GET /api/jobs/:id and read by the CLI.
 */
export interface ErasureResult {
  /** Rows deleted per ClickHouse table (0 for tables that held none). */
  tables: Record<string, number>;
  totalRows: number;
  visitors: number;
  sessions: number;
  /** Rows removed from the Redis stream before they reached ClickHouse. */
  streamEntries: number;
  presenceEntries: number;
  /** Tables left alone, with the reason (content tables, views, …). */
  skippedTables: Record<string, string>;
  /** Outdated parts (rewritten by the deletes) still on disk when the job ended; 0 = removed. */
  oldPartsLeft: number;
  /** The Redis append-only file after the erasure: `rewritten`, `off` (no AOF) or `failed`. */
  aof: 'rewritten' | 'off' | 'failed';
  /** What the service cannot erase (operator logs, backups, …), as stated on the receipt. */
  outsideReach: string[];
}

export interface BackfillResult {
  recWritten: number;
  clickWritten: number;
  /** Valid lines not written: outside the window, already present, or of an erased person. */
  skipped: number;
  /** Lines with a tag that could not be used (see invalidReasons); another account's lines count here. */
  invalid: number;
  skippedReasons: { window: number; present: number; erased: number };
  invalidReasons: Record<string, number>;
  /** Lines without either tag: other log output, not counted as invalid. */
  ignored: number;
  lines: number;
}
