import type { ClickHouseClient } from '@clickhouse/client';
import { runQuery } from './queries.js';

export interface RecordedPeaks {
  day: number;
  week: number;
  month: number;
}

/** Peaks recorded by the sweeper for the current UTC day, ISO week and month. */
export async function recordedPeaks(ch: ClickHouseClient, account: string): Promise<RecordedPeaks> {
  const out: RecordedPeaks = { day: 0, week: 0, month: 0 };
  for (const r of await runQuery<{ period: keyof RecordedPeaks; peak: number | string }>(ch, 'recorded-peaks', { account })) out[r.period] = Number(r.peak);
  return out;
}
