import { createHash } from 'node:crypto';
import { zAccountId, zListingSlug, zPersonId, zRecId, zSessionId } from './ids.js';
import type { StoredEvent } from './stored-event.js';

/** `key=value` pairs for the greppable `[tag] k=v …` lines; values are sanitised to one token. */
export function kv(fields: Record<string, string | number | boolean | undefined | null>): string {
  const parts: string[] = [];
  for (const k in fields) {
    const v = fields[k];
    if (v === undefined || v === null || v === '') continue;
    parts.push(
      `${k}=${String(v)
        .replace(/[\s\u0000-\u001f]+/g, '_')
        .slice(0, 200)}`,
    );
  }
  return parts.join(' ');
}

export const TAG_VISITOR_EVENT = '[visitor-event]';

/**
 * The field that says most about an event of each type: it comes right after `type=`, so the
 * operator's greps (`[visitor-event] type=scroll depth=50`) match the line as written.
 */
const OWN_FIELD: Partial<Record<StoredEvent['type'], 'depth' | 'label' | 'dwell_ms'>> = {
  scroll: 'depth',
  click: 'label',
  download: 'label',
  form_submit: 'label',
  custom: 'label',
  leave: 'dwell_ms',
};

/**
 * The line logged for every accepted event: the tag, `type=`, the type's own field, then
 * `account=`, `path=` and whatever else the event has. The order is a contract (DESIGN.md).
 * `person` is how the line names the person (their id, or the caller's pseudonym of it).
 */
export function visitorEventLine(e: StoredEvent, person: string = e.person_id): string {
  const own = OWN_FIELD[e.type];
  const fields: Record<string, string | number | undefined> = { type: e.type };
  const depth = e.depth || undefined;
  const dwell = e.dwell_ms || undefined;
  if (own === 'depth') fields.depth = depth;
  else if (own === 'label') fields.label = e.label;
  else if (own === 'dwell_ms') fields.dwell_ms = dwell;
  fields.account = e.account_id;
  fields.path = e.path;
  if (own !== 'depth') fields.depth = depth;
  if (own !== 'label') fields.label = e.label;
  fields.listing = e.listing;
  if (own !== 'dwell_ms') fields.dwell_ms = dwell;
  fields.person = person;
  return `${TAG_VISITOR_EVENT} ${kv(fields)}`;
}

/**
 * The recommender's log lines, as backfill reads them:
 *
 * ```
 * 2026-11-20T08:15:02.120Z [property-recommended] account=acme session=s-123 listing=12-high-st rec=r-9 person=p-42
 * 2026-11-20T08:17:40.004Z [property-card-click] account=acme session=s-123 listing=12-high-st rec=r-9
 * ```
 *
 * The line starts with an ISO-8601 time (no zone = UTC); the tag may follow other words (a
 * level, a logger name); after the tag come `key=value` words in any order. Unknown keys and
 * words without `=` are ignored. Lines without either tag are not backfill lines at all.
 */

export const TAG_RECOMMENDED = '[property-recommended]';
export const TAG_CLICK = '[property-card-click]';

export type LogLineKind = 'recommended' | 'click';

export interface LogRecord {
  kind: LogLineKind;
  /** Epoch milliseconds of the line's leading timestamp. */
  ts: number;
  account: string;
  session: string;
  listing: string;
  rec: string;
  /** Empty when the line names no person. */
  person: string;
  /** 1-based line number in the uploaded text. */
  line: number;
}

export type InvalidReason = 'timestamp' | 'missing-key' | 'bad-value' | 'other-account';

export type LineParse = { ok: true; record: LogRecord } | { ok: false; reason: InvalidReason };

const TS_RE = /^\s*(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?)(Z|[+-]\d{2}:?\d{2})?(?=\s)/;
/**
 * Each id checked by the schema every other route uses for it, so a line cannot store an id
 * (`{x:String}`, `../../x`) that the beacon, the admin API or a token would refuse. Person ids
 * follow the token's schema, the stricter of the two (the erasure job's accepts any printable id).
 */
const ID_SCHEMAS = { account: zAccountId, session: zSessionId, listing: zListingSlug, rec: zRecId, person: zPersonId } as const;

/** Canonical key ← the spellings accepted in a line. */
const KEY_ALIASES: Record<string, keyof Pick<LogRecord, 'account' | 'session' | 'listing' | 'rec' | 'person'>> = {
  account: 'account',
  session: 'session',
  sessionid: 'session',
  session_id: 'session',
  listing: 'listing',
  slug: 'listing',
  rec: 'rec',
  recid: 'rec',
  rec_id: 'rec',
  person: 'person',
  personid: 'person',
  person_id: 'person',
};

function parseTimestamp(line: string): number | undefined {
  const m = TS_RE.exec(line);
  if (!m) return undefined;
  let zone = m[3] ?? 'Z';
  if (zone !== 'Z' && !zone.includes(':')) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
  // Milliseconds only: finer digits are cut, a comma decimal mark is accepted.
  const time = m[2]!.replace(',', '.').replace(/(\.\d{3})\d+$/, '$1');
  const ms = Date.parse(`${m[1]}T${time}${zone}`);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * Parse one line. `null`: not a backfill line (neither tag). `account` is the caller's account:
 * a valid line of another account is refused as `other-account`.
 */
export function parseLogLine(text: string, lineNo: number, account: string): LineParse | null {
  let kind: LogLineKind;
  let at = text.indexOf(TAG_RECOMMENDED);
  let tagLen = TAG_RECOMMENDED.length;
  if (at >= 0) kind = 'recommended';
  else {
    at = text.indexOf(TAG_CLICK);
    if (at < 0) return null;
    kind = 'click';
    tagLen = TAG_CLICK.length;
  }
  const ts = parseTimestamp(text);
  if (ts === undefined) return { ok: false, reason: 'timestamp' };
  const fields: Partial<Record<'account' | 'session' | 'listing' | 'rec' | 'person', string>> = {};
  for (const word of text.slice(at + tagLen).split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq <= 0) continue;
    const key = KEY_ALIASES[word.slice(0, eq).toLowerCase()];
    if (!key) continue;
    const value = word.slice(eq + 1);
    if (value === '') continue;
    fields[key] = value;
  }
  const { account: acct, session, listing, rec, person } = fields;
  if (!acct || !session || !listing || !rec) return { ok: false, reason: 'missing-key' };
  for (const [key, value] of Object.entries(fields) as [keyof typeof ID_SCHEMAS, string][]) {
    if (!ID_SCHEMAS[key].safeParse(value).success) return { ok: false, reason: 'bad-value' };
  }
  if (acct !== account) return { ok: false, reason: 'other-account' };
  return { ok: true, record: { kind, ts, account: acct, session, listing, rec, person: person ?? '', line: lineNo } };
}

export interface LogWindow {
  /** Inclusive lower bound, epoch ms. */
  from?: number;
  /** Exclusive upper bound, epoch ms. */
  to?: number;
}

export interface ParsedLog {
  /** Valid lines of this account inside the window, in file order. */
  records: LogRecord[];
  /** Valid lines outside the window. */
  outsideWindow: number;
  invalid: number;
  invalidReasons: Record<InvalidReason, number>;
  /** Lines without either tag (other log output): neither valid nor invalid. */
  ignored: number;
  /** Every line of the text, blank ones included. */
  lines: number;
}

/** Parse a whole log text for one account over a window. Never throws on bad lines. */
export function parseLogText(text: string, account: string, window: LogWindow = {}): ParsedLog {
  const out: ParsedLog = {
    records: [],
    outsideWindow: 0,
    invalid: 0,
    invalidReasons: { timestamp: 0, 'missing-key': 0, 'bad-value': 0, 'other-account': 0 },
    ignored: 0,
    lines: 0,
  };
  const lines = text.split(/\r?\n/);
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  out.lines = lines.length;
  for (let i = 0; i < lines.length; i++) {
    const p = parseLogLine(lines[i]!, i + 1, account);
    if (p === null) out.ignored++;
    else if (!p.ok) {
      out.invalid++;
      out.invalidReasons[p.reason]++;
    } else if ((window.from !== undefined && p.record.ts < window.from) || (window.to !== undefined && p.record.ts >= window.to)) {
      out.outsideWindow++;
    } else out.records.push(p.record);
  }
  return out;
}

/** Identity of a recommendation row: the `recommendations` table's sorting key. */
export function recKey(r: Pick<LogRecord, 'rec' | 'listing' | 'session'>): string {
  return `${r.rec}\u0000${r.listing}\u0000${r.session}`;
}

/**
 * A click line's event id: a UUID (version 8, RFC 9562 custom) derived from a hash of
 * account, session, listing, rec and time, so the same line backfilled twice gets the same id.
 */
export function clickEventId(r: Pick<LogRecord, 'account' | 'session' | 'listing' | 'rec' | 'ts'>): string {
  const h = createHash('sha256')
    .update(['backfill-click', r.account, r.session, r.listing, r.rec, String(r.ts)].join('\u0000'))
    .digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
