import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../src/logger.js';
import { kv } from '../../src/logger.js';
import type { Metrics } from '../../src/metrics.js';
import { TABLES } from '../../src/adapters/clickhouse/tables.js';
import type { RowStream } from '../../src/adapters/redis/row-stream.js';
import type { PresenceStore } from '../../src/adapters/redis/presence.store.js';
import { sampleSlot } from '../../src/domain/presence.rules.js';

export interface SweeperOptions {
  /** Time between sweeps: a timed-out visitor's `leave` comes at most this late. */
  intervalMs: number;
  /** One concurrency sample per account per slot of this length (a minute in production). */
  sampleMs: number;
  /** Unique per process: the lease holder's id. */
  holder: string;
}

/** A row of `presence_samples` (column names are public). */
export interface PresenceSampleRow {
  account_id: string;
  ts: string;
  online: number;
  authenticated: number;
  anonymous: number;
  peak: number;
  cross_segment: number;
}

/** `YYYY-MM-DD hh:mm:ss` UTC, for DateTime columns. */
function chSeconds(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * Ends timed-out tabs (each visitor who goes gets exactly one `leave`, published by the sweep
 * script) and records a concurrency sample per account and slot into `presence_samples`,
 * from which `presence_peaks` keeps daily, weekly and monthly peaks. Runs in every worker
 * process; a Redis lease lets one of them work at a time (sweeps are atomic, so two at once
 * would still be exact, only wasteful, and would record samples twice).
 */
export class PresenceSweeper {
  #running = false;
  #loop?: Promise<void>;
  #abort = new AbortController();
  #holding = false;
  #lastSlot = -1;

  constructor(
    private readonly store: PresenceStore,
    private readonly rows: RowStream,
    private readonly accountIds: () => string[],
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly opts: SweeperOptions,
  ) {
    metrics
      .describe('visitor_presence_leaves_total', 'counter', 'Visitors who left by timeout or after a leave grace, found by the sweeper')
      .describe('visitor_presence_sweeper_active', 'gauge', '1 while this process holds the presence sweeper lease');
  }

  /** The lease outlives a few missed sweeps, so a slow tick does not hand it over. */
  get leaseMs(): number {
    return Math.max(5_000, this.opts.intervalMs * 5);
  }

  get holding(): boolean {
    return this.#holding;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#abort = new AbortController();
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#abort.abort();
    await this.#loop;
    if (this.#holding) {
      await this.store.releaseLease(this.opts.holder).catch((err: unknown) => this.log.warn({ err }, '[presence-sweeper] lease release failed'));
      this.#holding = false;
    }
  }

  async #run(): Promise<void> {
    while (this.#running) {
      try {
        await this.tick();
      } catch (err) {
        this.log.error({ err }, '[presence-sweeper] tick failed; retrying');
      }
      try {
        await sleep(this.opts.intervalMs, undefined, { signal: this.#abort.signal });
      } catch {
        // aborted by stop()
      }
    }
  }

  /** One sweep of every account (and a sample when a new slot began), if this process holds the lease. */
  async tick(): Promise<void> {
    const holding = await this.store.takeLease(this.opts.holder, this.leaseMs);
    if (holding !== this.#holding) {
      this.#holding = holding;
      this.metrics.set('visitor_presence_sweeper_active', holding ? 1 : 0);
      this.log.info({ holder: this.opts.holder }, `[presence-sweeper] ${kv({ lease: holding ? 'taken' : 'lost', holder: this.opts.holder })}`);
    }
    if (!holding) return;
    // One account's failure must not hold up the others: each is tried on its own.
    for (const account of this.accountIds()) {
      try {
        const r = await this.store.sweep(account);
        if (r.leaves > 0) this.metrics.inc('visitor_presence_leaves_total', { account }, r.leaves);
        if (r.tabs > 0) this.log.info({ account, tabs: r.tabs, leaves: r.leaves }, '[presence-sweep] swept');
      } catch (err) {
        this.log.error({ err, account, outcome: 'failed' }, '[presence-sweep] failed');
      }
    }
    const slot = sampleSlot(Date.now(), this.opts.sampleMs);
    if (slot !== this.#lastSlot) {
      this.#lastSlot = slot;
      for (const account of this.accountIds()) {
        try {
          await this.#sample(account, slot);
        } catch (err) {
          this.log.error({ err, account }, `[presence-sample] ${kv({ account, outcome: 'failed' })}`);
        }
      }
    }
  }

  async #sample(account: string, slot: number): Promise<void> {
    const s = await this.store.sample(account);
    const row: PresenceSampleRow = {
      account_id: account,
      ts: chSeconds(slot),
      online: s.online,
      authenticated: s.authenticated,
      anonymous: Math.max(0, s.online - s.authenticated),
      peak: s.peak,
      cross_segment: s.crossSegment,
    };
    // Through the account's stream, so a ClickHouse outage delays the sample instead of losing it;
    // the dedupe id keeps a slot's sample single when the lease changes hands mid-slot.
    await this.rows.append(account, [{ table: TABLES.presenceSamples, row, dedupeId: `presence-sample:${slot}` }]);
    this.log.debug({ account, ...s }, `[presence-sample] ${kv({ account, online: s.online, peak: s.peak })}`);
  }
}
