import { createHmac } from 'node:crypto';

/**
 * Keyed hashes of person, visitor and session ids, under one service secret
 * (`DATA_DIR/credentials/pseudonym.key`, see `adapters/secrets/pseudonym-key.store.ts`).
 *
 * Two uses, each with its own key derived from the secret, so a value seen in one place says
 * nothing about the other:
 * - erasure marks: what keeps an erased person out (revoked tokens, dropped stream rows) holds
 *   `mark(…)`, never the id, so the marks themselves name nobody;
 * - log lines: `person=ps_…`, `visitor=vs_…` instead of the id (`LOG_PERSON_IDS=pseudonym`, the
 *   default), so log files the operator keeps hold no id an erasure could not reach. The same id
 *   always gets the same pseudonym, so lines of one person still grep together.
 */

export type IdKind = 'person' | 'visitor' | 'session';

/** How log lines name persons and visitors. */
export type LogIdMode = 'pseudonym' | 'raw';

const LOG_PREFIX: Record<IdKind, string> = { person: 'ps_', visitor: 'vs_', session: 'ss_' };
/** 12 hex digits (48 bits): no collision to expect below millions of ids per account. */
const LOG_HEX = 12;

function derive(secret: Buffer, purpose: string): Buffer {
  return createHmac('sha256', secret).update(purpose).digest();
}

/**
 * Marks computed lately, by input: the flusher checks every row of a batch of an account that
 * has marks, and one HMAC costs a few microseconds (tens on a loaded machine). Cleared when full.
 */
const MARK_CACHE_CAP = 100_000;

export class Pseudonyms {
  readonly #markKey: Buffer;
  readonly #logKey: Buffer;
  readonly #marks = new Map<string, string>();

  constructor(
    secret: Buffer,
    /** @defaultValue 'pseudonym' */
    readonly logMode: LogIdMode = 'pseudonym',
  ) {
    this.#markKey = derive(secret, 'visitor-presence/erasure-mark/v1');
    this.#logKey = derive(secret, 'visitor-presence/log-id/v1');
  }

  /** The erasure mark of an id: 32 hex digits (128 bits), per account and kind. */
  mark(account: string, kind: IdKind, id: string): string {
    const input = `${account}\u0000${kind}\u0000${id}`;
    let m = this.#marks.get(input);
    if (m === undefined) {
      m = createHmac('sha256', this.#markKey).update(input).digest('hex').slice(0, 32);
      if (this.#marks.size >= MARK_CACHE_CAP) this.#marks.clear();
      this.#marks.set(input, m);
    }
    return m;
  }

  /** How a log line names an id: `ps_<12 hex>` (pseudonym mode) or the id itself (raw); '' stays ''. */
  logId(account: string, kind: IdKind, id: string | undefined): string | undefined {
    if (!id) return id;
    if (this.logMode === 'raw') return id;
    return LOG_PREFIX[kind] + createHmac('sha256', this.#logKey).update(`${account}\u0000${kind}\u0000${id}`).digest('hex').slice(0, LOG_HEX);
  }

  /** `person=` of a log line (object field and message alike). */
  personLogId(account: string, personId: string | undefined): string | undefined {
    return this.logId(account, 'person', personId);
  }

  /** `visitor=` of a log line. */
  visitorLogId(account: string, visitorId: string | undefined): string | undefined {
    return this.logId(account, 'visitor', visitorId);
  }
}
