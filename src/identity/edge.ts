import { chTime } from '../domain/stored-event.js';

/** How a visitor came to be bound to a person. */
export type EdgeSource = 'token' | 'identify';

/** One row of `identity_edges` (column names = keys), as streamed and stored. */
export interface IdentityEdgeRow {
  account_id: string;
  visitor_id: string;
  person_id: string;
  source: EdgeSource;
  /** 1.0 for a signed token; the operator's own value for `identify`. */
  confidence: number;
  /** `YYYY-MM-DD hh:mm:ss.sss` UTC: the binding time. The newest edge of a visitor wins. */
  ts: string;
}

export function edgeRow(account: string, visitor: string, person: string, source: EdgeSource, confidence: number, tsMs: number): IdentityEdgeRow {
  return { account_id: account, visitor_id: visitor, person_id: person, source, confidence, ts: chTime(tsMs) };
}

/** ClickHouse DateTime64(3) text in UTC → epoch ms (NaN when it is not that shape). */
export function chTimeMs(text: string): number {
  return /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,3})?$/.test(text) ? Date.parse(`${text.replace(' ', 'T')}Z`) : Number.NaN;
}

/** A stream row claiming to be an identity edge, checked field by field (it came through Redis). */
export function asEdgeRow(row: Record<string, unknown>): (IdentityEdgeRow & { tsMs: number }) | undefined {
  const { account_id, visitor_id, person_id, source, confidence, ts } = row;
  if (typeof account_id !== 'string' || typeof visitor_id !== 'string' || typeof person_id !== 'string' || typeof ts !== 'string') return undefined;
  if (!visitor_id || !person_id || (source !== 'token' && source !== 'identify') || typeof confidence !== 'number') return undefined;
  const tsMs = chTimeMs(ts);
  if (!Number.isFinite(tsMs)) return undefined;
  return { account_id, visitor_id, person_id, source, confidence, ts, tsMs };
}
