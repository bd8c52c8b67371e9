/**
 * Book-keeping of a fault scenario: every event sent (by its event id) and how the gateway
 * answered, then what ClickHouse holds. `verify` is the suite's one invariant: every accepted
 * event is stored exactly once, nothing is stored twice, and nothing is stored that was not sent.
 * Each scenario adds its counts to `test-results/faults-report.json`.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { FLUSH_GROUP } from '../../../src/adapters/redis/keys.js';
import { BROWSER_UA, beacon, eventually, rows, type TestService } from '../../support/services.js';
import { REPO_ROOT } from '../../support/processes.js';

export interface VerifyResult {
  sent: number;
  accepted: number;
  rejected: number;
  /** Requests that got no HTTP answer (connection reset during an outage). */
  unanswered: number;
  stored: number;
  /** Accepted event ids not in ClickHouse. */
  missing: string[];
  /** Event ids stored more than once. */
  duplicated: string[];
  /** Stored but answered with an error: the gateway could not know Redis had it (allowed, counted). */
  storedUnacknowledged: number;
  /** Stored ids never sent (must be none). */
  foreign: string[];
}

export class Ledger {
  readonly accepted = new Set<string>();
  readonly rejected = new Map<string, number>();
  readonly unanswered = new Set<string>();
  readonly statuses: Record<string, number> = {};
  sent = 0;

  constructor(
    readonly scenario: string,
    readonly accounts: string[],
  ) {}

  /** Record the answer to a request carrying these event ids (status 0: no answer). */
  record(eventIds: readonly string[], status: number): void {
    this.sent += eventIds.length;
    this.statuses[status] = (this.statuses[status] ?? 0) + 1;
    for (const id of eventIds) {
      if (status >= 200 && status < 300) this.accepted.add(id);
      else if (status === 0) this.unanswered.add(id);
      else this.rejected.set(id, status);
    }
  }

  /** POST events (one, or a batch when several) and record the answer. */
  async post(url: string, account: string, count = 1, headers: Record<string, string> = {}, over: Record<string, unknown> = {}): Promise<number> {
    const events = Array.from({ length: count }, () => beacon(account, { eventId: randomUUID(), ...over }));
    const ids = events.map((e) => String(e.eventId));
    let status = 0;
    try {
      const res = await fetch(`${url}/v/event`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': BROWSER_UA, ...headers },
        body: JSON.stringify(count === 1 ? events[0] : { events }),
        signal: AbortSignal.timeout(15_000),
      });
      status = res.status;
      await res.arrayBuffer();
    } catch {
      status = 0;
    }
    this.record(ids, status);
    return status;
  }

  async stored(ch: ClickHouseClient): Promise<Map<string, number>> {
    const got = await rows<{ id: string; n: string }>(
      ch,
      'SELECT toString(event_id) AS id, count() AS n FROM events WHERE account_id IN {accounts:Array(String)} GROUP BY id',
      { accounts: this.accounts },
    );
    return new Map(got.map((r) => [r.id, Number(r.n)]));
  }

  async verify(ch: ClickHouseClient): Promise<VerifyResult> {
    const stored = await this.stored(ch);
    const sentIds = new Set([...this.accepted, ...this.rejected.keys(), ...this.unanswered]);
    return {
      sent: this.sent,
      accepted: this.accepted.size,
      rejected: this.rejected.size,
      unanswered: this.unanswered.size,
      stored: stored.size,
      missing: [...this.accepted].filter((id) => !stored.has(id)),
      duplicated: [...stored].filter(([, n]) => n > 1).map(([id]) => id),
      storedUnacknowledged: [...stored.keys()].filter((id) => !this.accepted.has(id) && sentIds.has(id)).length,
      foreign: [...stored.keys()].filter((id) => !sentIds.has(id)),
    };
  }

  /**
   * Wait until every accepted event is stored and each account stream has nothing pending and
   * nothing waiting: only then can no re-delivery (after the reclaim idle time) add a duplicate
   * behind the check.
   */
  async settle(t: Pick<TestService, 'ch' | 'service'>, timeoutMs = 40_000): Promise<void> {
    await eventually(() => this.allStored(t.ch), timeoutMs, 200);
    const { redis, keys } = t.service;
    await eventually(
      async () => {
        for (const account of this.accounts) {
          const stream = keys.eventStream(account);
          const [pending] = (await redis.xpending(stream, FLUSH_GROUP)) as [number];
          if (Number(pending) !== 0 || (await redis.xlen(stream)) !== 0) return false;
        }
        return true;
      },
      timeoutMs,
      200,
    );
  }

  /** True once every accepted event is in ClickHouse (for `eventually`). */
  async allStored(ch: ClickHouseClient): Promise<boolean> {
    const stored = await this.stored(ch);
    for (const id of this.accepted) if (!stored.has(id)) return false;
    return true;
  }
}

const RESULTS_DIR = path.join(REPO_ROOT, 'test-results');
const FRAGMENTS = path.join(RESULTS_DIR, 'faults');
const REPORT = path.join(RESULTS_DIR, 'faults-report.json');

/** One vitest run: its forks share the parent (the vitest main process). */
const RUN_ID = `${process.ppid}`;

export interface ScenarioReport {
  scenario: string;
  counts: Omit<VerifyResult, 'missing' | 'duplicated' | 'foreign'> & { missing: number; duplicated: number; foreign: number };
  statuses: Record<string, number>;
  /** Anything else worth reading next to the counts. */
  notes?: Record<string, unknown>;
  ok: boolean;
}

/**
 * Add this scenario's counts to the run's report: each test file writes a fragment, then
 * (under a lock file) rebuilds `faults-report.json` from the fragments of the same run.
 */
export function writeReport(ledger: Ledger, result: VerifyResult, notes?: Record<string, unknown>): ScenarioReport {
  const report: ScenarioReport = {
    scenario: ledger.scenario,
    counts: {
      sent: result.sent,
      accepted: result.accepted,
      rejected: result.rejected,
      unanswered: result.unanswered,
      stored: result.stored,
      storedUnacknowledged: result.storedUnacknowledged,
      missing: result.missing.length,
      duplicated: result.duplicated.length,
      foreign: result.foreign.length,
    },
    statuses: ledger.statuses,
    notes,
    ok: result.missing.length === 0 && result.duplicated.length === 0 && result.foreign.length === 0,
  };
  mkdirSync(FRAGMENTS, { recursive: true });
  writeFileSync(path.join(FRAGMENTS, `${RUN_ID}-${ledger.scenario}.json`), JSON.stringify(report));
  const lock = path.join(RESULTS_DIR, '.faults-report.lock');
  let fd: number | undefined;
  for (let i = 0; i < 200 && fd === undefined; i++) {
    try {
      fd = openSync(lock, 'wx');
    } catch {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
  try {
    const scenarios: ScenarioReport[] = [];
    for (const f of readdirSync(FRAGMENTS)) {
      if (!f.endsWith('.json')) continue;
      if (!f.startsWith(`${RUN_ID}-`)) {
        rmSync(path.join(FRAGMENTS, f), { force: true });
        continue;
      }
      scenarios.push(JSON.parse(readFileSync(path.join(FRAGMENTS, f), 'utf8')) as ScenarioReport);
    }
    scenarios.sort((a, b) => a.scenario.localeCompare(b.scenario));
    const total = scenarios.reduce(
      (t, s) => ({
        sent: t.sent + s.counts.sent,
        accepted: t.accepted + s.counts.accepted,
        rejected: t.rejected + s.counts.rejected,
        stored: t.stored + s.counts.stored,
        missing: t.missing + s.counts.missing,
        duplicated: t.duplicated + s.counts.duplicated,
      }),
      { sent: 0, accepted: 0, rejected: 0, stored: 0, missing: 0, duplicated: 0 },
    );
    const tmp = `${REPORT}.${process.pid}.tmp`;
    writeFileSync(
      tmp,
      `${JSON.stringify({ generatedAt: new Date().toISOString(), run: RUN_ID, total, ok: scenarios.every((s) => s.ok), scenarios }, null, 2)}\n`,
    );
    renameSync(tmp, REPORT);
  } finally {
    if (fd !== undefined) {
      closeSync(fd);
      if (existsSync(lock)) unlinkSync(lock);
    }
  }
  return report;
}
