import { chTime } from './stored-event.js';
import type { RecommendationInput } from './analytics.schema.js';

/** A row of the ClickHouse `recommendations` table (an impression), as the flusher inserts it. */
export interface RecommendationRow {
  account_id: string;
  rec_id: string;
  listing: string;
  session_id: string;
  visitor_id: string;
  person_id: string;
  ts: string;
  source: string;
}

/** Recommendations reported more than this far in the future are refused (clock mistakes). */
export const REC_FUTURE_MS = 86_400_000;

/** A validated report → its row; `ts` defaults to the time of the report. */
export function recommendationRow(r: RecommendationInput, accountId: string, now: number, source = 'api'): RecommendationRow {
  return {
    account_id: accountId,
    rec_id: r.recId,
    listing: r.listing,
    session_id: r.sessionId ?? '',
    visitor_id: r.visitorId ?? '',
    person_id: r.personId ?? '',
    ts: chTime(r.ts ?? now),
    source,
  };
}
