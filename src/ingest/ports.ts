import type { Account } from '../domain/account.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { StoredEvent } from '../domain/stored-event.js';
import type { AppendOutcome, CommitPresence, StreamRow } from '../adapters/redis/row-stream.js';

/** What the pipeline reads of a request (copied by the route before any await). */
export interface IngestRequest {
  headers: Readonly<Record<string, string>>;
  /** The client address (the trusted proxy's hop when behind one). */
  ip: string;
  /** The request came through a trusted proxy: its country header is believed. */
  viaTrustedProxy: boolean;
}

/** How ingest learns who a browser is (identity capability). */
export interface IngestIdentity {
  /** The person of a valid `mxy_v` cookie value, or undefined (an invalid one is logged, not trusted). */
  personFromCookie(account: Account, cookie: string | undefined, now: number): Promise<string | undefined>;
  /** Rows to append with the events, atomically (e.g. the identity edge of a first-seen binding). */
  rowsFor(account: Account, events: readonly StoredEvent[]): Promise<StreamRow[]>;
}

/** Where accepted rows go: all or nothing per request, with presence in the same call (RowStream). */
export interface IngestAppender {
  append(account: string, rows: readonly StreamRow[], presence?: CommitPresence): Promise<AppendOutcome[]>;
}

export interface IngestIpHasher {
  hashSync(ip: string, now: number): string | undefined;
  hash(ip: string, now: number): Promise<string>;
}

/** The pipeline's ports: everything outside it that it talks to. */
export interface IngestPorts {
  identity: IngestIdentity;
  appender: IngestAppender;
  ipHasher: IngestIpHasher;
  log: Logger;
  metrics: Metrics;
  /** How `[visitor-event]` lines name a person (their id when unset). */
  personInLog?: (account: string, person: string) => string;
}

export const noIdentity: IngestIdentity = {
  personFromCookie: async () => undefined,
  rowsFor: async () => [],
};
