import type { Account, AccountRegistry } from '../domain/account.js';
import type { BeaconEvent } from '../domain/event.schema.js';
import { visitorEventLine } from '../domain/log-lines.js';
import { ForbiddenError } from '../errors.js';
import { FixedLineWriter } from '../logger.js';
import { appendOr503 } from './append.js';
import type { Counter } from '../metrics.js';
import type { AppendOutcome, StreamRow } from '../adapters/redis/row-stream.js';
import { agentFacts, attribute } from './attribute.js';
import { normalise } from './normalise.js';
import type { IngestPorts, IngestRequest } from './ports.js';
import { checkOrigin, validateEvents } from './validate.js';

export interface IngestOutcome {
  accepted: number;
  duplicates: number;
  /** True when the request came from a bot: answered, but nothing stored. */
  bot: boolean;
}

export interface AcceptOptions {
  /** The browser's `Origin` header: must be one of the account's origins. */
  origin?: string;
  /** Drop requests from bots and crawlers (beacons and pixels; not the admin API). */
  filterBots: boolean;
  /** The account of the admin key: every event must name it. */
  keyAccount?: Account;
}

interface AccountCounters {
  accepted: Counter;
  duplicate: Counter;
  bot: Counter;
}

/**
 * The one ingest pipeline, behind every route that ingests (`POST /v/event`, `GET /p.gif`,
 * `POST /api/events`, the listing click): validate → attribute → normalise → append (with
 * presence, in the same Redis call) → log line. Routes parse the request and answer; this does
 * the work. The promise settles once Redis has every row of the request (or refused it whole).
 */
export class IngestPipeline {
  readonly #counters = new Map<string, AccountCounters>();
  /**
   * The `[visitor-event]` lines, one per accepted event: their fields are the account, the type
   * and the event id, and persons in the message are already pseudonymised, so they are written
   * in pino's format without its general path (redaction, serialisers).
   */
  readonly #eventLog: FixedLineWriter;

  constructor(
    private readonly ports: IngestPorts,
    private readonly accounts: AccountRegistry,
  ) {
    this.#eventLog = new FixedLineWriter(ports.log, ['account', 'type', 'eventId']);
    ports.metrics
      .describe('visitor_events_rejected_total', 'counter', 'Requests rejected, by reason')
      .describe('visitor_events_accepted_total', 'counter', 'Events accepted into the stream')
      .describe('visitor_events_duplicate_total', 'counter', 'Events dropped as client retries of an accepted event id')
      .describe('visitor_bot_requests_total', 'counter', 'Requests from bots and crawlers, kept out of analytics');
  }

  #countersOf(account: string): AccountCounters {
    let c = this.#counters.get(account);
    if (!c) {
      const m = this.ports.metrics;
      const labels = { account };
      c = {
        accepted: m.counter('visitor_events_accepted_total', labels),
        duplicate: m.counter('visitor_events_duplicate_total', labels),
        bot: m.counter('visitor_bot_requests_total', labels),
      };
      this.#counters.set(account, c);
    }
    return c;
  }

  /** Count a bot request that never reached the pipeline (e.g. a click whose redirect is all it gets). */
  countBot(account: string): void {
    this.#countersOf(account).bot.inc();
  }

  /** A beacon, pixel or admin body (decoded JSON or pixel fields), from validation on. */
  async accept(body: unknown, req: IngestRequest, opts: AcceptOptions): Promise<IngestOutcome> {
    const { account, events } = validateEvents(body, this.accounts);
    if (opts.keyAccount && account.id !== opts.keyAccount.id) throw new ForbiddenError('events may only name the account of the admin key');
    checkOrigin(account, opts.origin);
    if (opts.filterBots && agentFacts(req.headers['user-agent'] ?? '').bot) {
      this.#countersOf(account.id).bot.inc();
      return { accepted: 0, duplicates: 0, bot: true };
    }
    // Server-side ingest also imports history: an event older than the presence TTL would put a
    // visitor online who left long ago. Browser beacons always count (their clocks may be off).
    const presenceFrom = opts.keyAccount ? Date.now() - account.presence.ttlMs : Number.NEGATIVE_INFINITY;
    return this.#run(account, events, req, undefined, presenceFrom);
  }

  /**
   * Events the gateway built itself (the listing click), already valid. `personId` is the person
   * the caller verified (a token in the link), else the cookie's is used. A redirect is not a
   * page a visitor stays on, so these events stay out of presence.
   */
  acceptTrusted(account: Account, events: readonly BeaconEvent[], req: IngestRequest, personId?: string): Promise<IngestOutcome> {
    return this.#run(account, events, req, personId, Number.POSITIVE_INFINITY);
  }

  /** `presenceFrom`: see {@link normalise}. */
  async #run(account: Account, events: readonly BeaconEvent[], req: IngestRequest, personId: string | undefined, presenceFrom: number): Promise<IngestOutcome> {
    const ctx = await attribute(this.ports, account, req, Date.now(), personId);
    const { stored, rows } = normalise(account, events, ctx, presenceFrom);
    const extra = await this.ports.identity.rowsFor(account, stored);
    const outcomes = await this.#append(account, extra.length ? [...rows, ...extra] : rows);
    let accepted = 0;
    const log = this.#eventLog;
    const logs = log.enabled;
    for (let i = 0; i < stored.length; i++) {
      if (outcomes[i] !== 'accepted') continue;
      accepted++;
      const e = stored[i]!;
      if (logs) {
        const person = e.person_id && this.ports.personInLog ? this.ports.personInLog(e.account_id, e.person_id) : e.person_id;
        log.info([e.account_id, e.type, e.event_id], visitorEventLine(e, person));
      }
    }
    const c = this.#countersOf(account.id);
    if (accepted) c.accepted.inc(accepted);
    if (accepted < stored.length) c.duplicate.inc(stored.length - accepted);
    return { accepted, duplicates: stored.length - accepted, bot: false };
  }

  /** Step 4, append (with presence): a store failure is a 503 the client retries, never a loss. */
  #append(account: Account, rows: StreamRow[]): Promise<AppendOutcome[]> {
    return appendOr503(() => this.ports.appender.append(account.id, rows, account.presence));
  }
}
