import type { Account } from '../../domain/account.js';
import type { Logger } from '../../logger.js';
import type { StoredEvent } from '../../domain/stored-event.js';
import { pageSegmentOf, presenceArg, toPresenceEvent } from '../../domain/presence.rules.js';
import { parseDiff, type RawSnapshot } from '../../domain/presence.messages.js';
import { redisReady, type RedisClient } from './client.js';
import type { RedisKeys } from './keys.js';
import { callScript } from './scripts.js';

/**
 * How long a visitor's hashes outlive their presence TTL. The sweeper removes them within a
 * sweep of the timeout; the expiry only guards against leaking them if no sweeper ever runs.
 */
export const PRESENCE_LINGER_MS = 3_600_000;

/** Tabs ended per sweep call: bounds how long one script blocks Redis. */
export const SWEEP_BATCH = 500;

export interface SnapshotOptions {
  /** One page, or null/undefined for the whole site. */
  page?: string | null;
  /** At most this many visitors (most recently active first). */
  visitors: number;
  /** At most this many pages (most visitors first). */
  pages: number;
  /** The account's page segments (for the cross-segment count of a page). */
  pageSegments?: Readonly<Record<string, string>>;
}

export interface PresenceSample {
  online: number;
  authenticated: number;
  /** Highest online count since the previous sample. */
  peak: number;
  crossSegment: number;
}

/**
 * Live presence in Redis (per account: sorted sets scored by time, TTL-keyed hashes per
 * visitor; layout in redis/includes/presence-core.lua). Every change runs in one Lua script
 * and publishes its diffs from inside it, so counts, joins and leaves are exact and ordered
 * whatever the number of gateways.
 */
export class PresenceStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * Heartbeats and any activity refresh presence; `leave` ends a tab after the account's grace.
   * Ingest does this inside its own call (RowStream); this is for events from elsewhere.
   */
  async apply(account: Account, events: readonly StoredEvent[]): Promise<void> {
    if (events.length === 0) return;
    const p = account.presence;
    const args: (string | number)[] = [this.keys.presenceChannel(account.id), p.ttlMs, p.graceMs, PRESENCE_LINGER_MS];
    for (const e of events) args.push(presenceArg(toPresenceEvent(e, account.pageSegments)));
    await callScript(this.redis, 'presenceApply', [this.keys.presencePrefix(account.id)], args);
  }

  /** A consistent snapshot with the sequence number of the last diff it includes. */
  async snapshot(account: string, opts: SnapshotOptions): Promise<RawSnapshot> {
    const page = opts.page ?? '';
    const pageSeg = page && opts.pageSegments ? pageSegmentOf(page, opts.pageSegments) : '';
    const res = await callScript(this.redis, 'presenceSnapshot', [this.keys.presencePrefix(account)], [page, opts.visitors, opts.pages, pageSeg]);
    return JSON.parse(String(res)) as RawSnapshot;
  }

  /** End every tab past its deadline; returns tabs ended and visitors who left. */
  async sweep(account: string): Promise<{ tabs: number; leaves: number }> {
    let tabs = 0;
    let leaves = 0;
    for (;;) {
      const [looked, left] = (await callScript(
        this.redis,
        'presenceSweep',
        [this.keys.presencePrefix(account)],
        [this.keys.presenceChannel(account), SWEEP_BATCH],
      )) as [number, number];
      tabs += looked;
      leaves += left;
      if (looked < SWEEP_BATCH) return { tabs, leaves };
    }
  }

  /**
   * Remove these visitors' presence now (erasure), emitting one `leave` (reason `forget`) each
   * that was online. Returns how many were removed.
   */
  async forget(account: string, visitorIds: string[]): Promise<number> {
    let removed = 0;
    for (let i = 0; i < visitorIds.length; i += 500) {
      const chunk = visitorIds.slice(i, i + 500);
      removed += Number(await callScript(this.redis, 'presenceForget', [this.keys.presencePrefix(account)], [this.keys.presenceChannel(account), ...chunk]));
    }
    return removed;
  }

  /** Counts now and the peak since the previous sample (which this one resets). */
  async sample(account: string): Promise<PresenceSample> {
    const [online, authenticated, peak, crossSegment] = (await callScript(this.redis, 'presenceSample', [this.keys.presencePrefix(account)], [])) as number[];
    return { online: online!, authenticated: authenticated!, peak: peak!, crossSegment: crossSegment! };
  }

  /** Sequence number of the account's last diff. */
  async seq(account: string): Promise<number> {
    return Number((await this.redis.get(this.keys.presenceSeq(account))) ?? 0);
  }

  /** Take or renew the sweeper lease; true while this holder has it. */
  async takeLease(holder: string, ms: number): Promise<boolean> {
    return Number(await callScript(this.redis, 'presenceLease', [this.keys.presenceSweeperLease()], [holder, ms, 'take'])) === 1;
  }

  async releaseLease(holder: string): Promise<void> {
    await callScript(this.redis, 'presenceLease', [this.keys.presenceSweeperLease()], [holder, 0, 'release']);
  }
}

/** A diff as published (`raw`, JSON) with its sequence number, read without parsing the rest. */
export type DiffListener = (account: string, seq: number, raw: string) => void;

/** The scripts write `seq` first (includes/presence-core.lua `publish`). */
const SEQ_HEAD = /^\{"seq":(\d+),/;

/** The sequence number of a published diff, or undefined when it is no diff at all. */
export function diffSeq(raw: string): number | undefined {
  const m = SEQ_HEAD.exec(raw);
  if (m) return Number(m[1]);
  return parseDiff(raw)?.seq;
}

/** How long an account's watched mark lasts unless refreshed (every third of it). */
export const PRESENCE_WATCH_TTL_MS = 30_000;

/**
 * One gateway's subscription to the diffs of the accounts it has live clients for, on its own
 * connection (a subscribed connection can run nothing else): diffs of other accounts never
 * reach this process. It reads only each diff's sequence number; the live hub parses the diffs
 * it sends on. ioredis re-subscribes after a reconnect; the hub sees the gap in `seq` and
 * resynchronises its clients.
 *
 * While it watches an account it keeps the account's watched mark alive (on `commands`, a
 * connection that is not subscribed): the presence scripts build diffs only for marked accounts.
 * The mark is set before subscribing, so no diff a snapshot after the subscription lacks is
 * skipped; if it lapses all the same (a stalled gateway), the skipped changes still take their
 * sequence numbers, and the gap sends this gateway's clients to a fresh snapshot.
 */
export class PresenceSubscriber {
  readonly #byChannel = new Map<string, string>();
  readonly #channelOf = new Map<string, string>();
  readonly #watching = new Set<string>();
  readonly #refresh: NodeJS.Timeout;

  constructor(
    private readonly conn: RedisClient,
    private readonly commands: RedisClient,
    private readonly keys: RedisKeys,
    accountIds: readonly string[],
    private readonly log: Logger,
    private readonly watchTtlMs = PRESENCE_WATCH_TTL_MS,
  ) {
    for (const a of accountIds) {
      this.#byChannel.set(keys.presenceChannel(a), a);
      this.#channelOf.set(a, keys.presenceChannel(a));
    }
    this.#refresh = setInterval(() => this.#markAll(), watchTtlMs / 3).unref();
  }

  #markAll(): void {
    for (const account of this.#watching) {
      this.#mark(account).catch((err: unknown) => this.log.warn({ err, account }, '[live] watched mark not refreshed'));
    }
  }

  #mark(account: string): Promise<unknown> {
    return this.commands.set(this.keys.presenceWatched(account), '1', 'PX', this.watchTtlMs);
  }

  async start(listener: DiffListener): Promise<void> {
    this.conn.on('message', (channel: string, message: string) => {
      const account = this.#byChannel.get(channel);
      if (!account) return;
      // One message holds the diffs of one script call, in order, a line each.
      for (const diff of message.includes('\n') ? message.split('\n') : [message]) {
        const seq = diffSeq(diff);
        if (seq === undefined) {
          this.log.warn({ channel }, '[presence-diff] dropping malformed diff');
          continue;
        }
        listener(account, seq, diff);
      }
    });
    // Back after a Redis outage or restart, which may have outlived the marks: set them again now
    // rather than at the next refresh.
    this.conn.on('ready', () => this.#markAll());
    await redisReady(this.conn);
  }

  /** Receive the account's diffs from now on: resolves once Redis has confirmed the subscription. */
  async watch(account: string): Promise<void> {
    const channel = this.#channelOf.get(account);
    if (!channel) return;
    await this.#mark(account);
    await this.conn.subscribe(channel);
    this.#watching.add(account);
  }

  /** The mark is left to lapse: another gateway may still watch the account. */
  async unwatch(account: string): Promise<void> {
    const channel = this.#channelOf.get(account);
    if (!channel) return;
    this.#watching.delete(account);
    await this.conn.unsubscribe(channel);
  }

  close(): void {
    clearInterval(this.#refresh);
    this.conn.disconnect();
  }
}
