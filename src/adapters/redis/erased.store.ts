import type { IdKind, Pseudonyms } from '../../domain/pseudonym.js';
import type { RedisClient } from './client.js';
import { FLUSH_GROUP, type RedisKeys } from './keys.js';
import { callScript } from './scripts.js';

/** Redis variadic commands are chunked so one call never carries an unbounded argument list. */
const CHUNK = 1000;
/**
 * Longest stream rebuilt after a sweep (one script, so Redis waits for it: about a second per
 * 100k entries). A longer one is a backlog of an outage; its flagged entries go once drained.
 */
const COMPACT_MAX = 100_000;

export interface SweepResult {
  /** Entries removed. */
  removed: number;
  /**
   * Removed entries still in Redis memory: a stream too long to rebuild keeps them flagged in
   * its listpack nodes (XDEL frees a node only once all its entries are gone), and an AOF
   * rewrite or snapshot would copy them.
   */
  leftInMemory: number;
}

/**
 * The part of a flusher row the erasure filter reads: the account whose stream it came from,
 * and its id fields, read without parsing the whole row (structural: adapters do not import
 * workers).
 */
export interface FilterableRow {
  readonly account: string;
  field(name: string): string | undefined;
}

/**
 * Erasure marks in Redis: the set of erased visitors and the hash person → erasedAtMs of each
 * account. The hash is also the token revocation list (identity rejects tokens of a person in
 * it), and the flusher drops every stream row of a marked visitor or person, so rows that were
 * still waiting in the stream when the erasure ran never reach ClickHouse.
 *
 * The marks are keyed hashes of the ids ({@link Pseudonyms.mark}), never the ids: what keeps a
 * person out must not itself name them. Checking a mark hashes the candidate id the same way.
 */
export class ErasedStore {
  /** Accounts whose raw marks of an earlier release were already converted (or found absent). */
  readonly #upgraded = new Map<string, Promise<void>>();

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly ids: Pseudonyms,
  ) {}

  #marks(account: string, kind: IdKind, list: readonly string[]): string[] {
    return list.map((id) => this.ids.mark(account, kind, id));
  }

  /**
   * Convert the raw-id marks an earlier release wrote (once per account and process): each id
   * becomes its mark, the raw keys go. Idempotent, so processes racing on it are harmless.
   */
  #upgrade(account: string): Promise<void> {
    let done = this.#upgraded.get(account);
    if (!done) {
      done = this.#convertLegacy(account).catch((err: unknown) => {
        this.#upgraded.delete(account);
        throw err;
      });
      this.#upgraded.set(account, done);
    }
    return done;
  }

  async #convertLegacy(account: string): Promise<void> {
    const persons = this.keys.legacyErasedPersons(account);
    const visitors = this.keys.legacyErasedVisitors(account);
    const [[, np], [, nv]] = (await this.redis.multi().exists(persons).exists(visitors).exec()) as [[Error | null, number], [Error | null, number]];
    if (np) {
      const raw = await this.redis.hgetall(persons);
      const entries = Object.entries(raw);
      for (let i = 0; i < entries.length; i += CHUNK) {
        const chunk = entries.slice(i, i + CHUNK);
        await this.redis.hset(this.keys.erasedPersons(account), Object.fromEntries(chunk.map(([p, at]) => [this.ids.mark(account, 'person', p), at])));
      }
      await this.redis.del(persons);
    }
    if (nv) {
      const raw = await this.redis.smembers(visitors);
      for (let i = 0; i < raw.length; i += CHUNK)
        await this.redis.sadd(this.keys.erasedVisitors(account), ...this.#marks(account, 'visitor', raw.slice(i, i + CHUNK)));
      await this.redis.del(visitors);
    }
  }

  /** Mark a person and their visitors as erased; the person's tokens are revoked from `atMs`. */
  async mark(account: string, person: string, visitors: readonly string[], atMs: number): Promise<void> {
    await this.#upgrade(account);
    await this.redis.hset(this.keys.erasedPersons(account), this.ids.mark(account, 'person', person), String(atMs));
    for (let i = 0; i < visitors.length; i += CHUNK)
      await this.redis.sadd(this.keys.erasedVisitors(account), ...this.#marks(account, 'visitor', visitors.slice(i, i + CHUNK)));
  }

  /** When the person was erased (epoch ms), or undefined. */
  async erasedAt(account: string, person: string): Promise<number | undefined> {
    await this.#upgrade(account);
    const raw = await this.redis.hget(this.keys.erasedPersons(account), this.ids.mark(account, 'person', person));
    const at = raw === null ? NaN : Number(raw);
    return Number.isFinite(at) ? at : undefined;
  }

  /**
   * Delete the identity capability's per-visitor keys (current binding, pending claims), which
   * name the person. Returns how many keys existed.
   */
  async forgetBindings(account: string, person: string, visitors: readonly string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < visitors.length; i += CHUNK) {
      const chunk = visitors.slice(i, i + CHUNK);
      // One account's keys share a hash tag: a multi-key DEL stays on one cluster slot.
      n += await this.redis.del(...chunk.flatMap((v) => [this.keys.identityBinding(account, v), this.keys.identityClaim(account, v, person)]));
    }
    return n;
  }

  /** Persons of `persons` that are marked erased. */
  async erasedPersonsOf(account: string, persons: readonly string[]): Promise<Set<string>> {
    return this.#marked(account, 'person', persons, async (marks) =>
      (await this.redis.hmget(this.keys.erasedPersons(account), ...marks)).map((at) => at !== null),
    );
  }

  /** Visitors of `visitors` that are marked erased. */
  async erasedVisitorsOf(account: string, visitors: readonly string[]): Promise<Set<string>> {
    return this.#marked(account, 'visitor', visitors, async (marks) =>
      (await this.redis.smismember(this.keys.erasedVisitors(account), ...marks)).map((hit) => hit === 1),
    );
  }

  /** The ids of `ids` whose marks `isMarked` finds, asked CHUNK marks at a time. */
  async #marked(account: string, kind: IdKind, ids: readonly string[], isMarked: (marks: string[]) => Promise<boolean[]>): Promise<Set<string>> {
    await this.#upgrade(account);
    const out = new Set<string>();
    const list = [...new Set(ids.filter(Boolean))];
    for (let i = 0; i < list.length; i += CHUNK) {
      const chunk = list.slice(i, i + CHUNK);
      const hit = await isMarked(this.#marks(account, kind, chunk));
      chunk.forEach((id, j) => hit[j] && out.add(id));
    }
    return out;
  }

  /**
   * Flusher filter: drops rows whose visitor_id is an erased visitor or whose person_id is an
   * erased person. One small read per account per batch; only an account with marks has its
   * rows' ids read (finding a field scans the row's bytes: most of the flusher's CPU a row
   * when done for every row).
   */
  readonly filter = async <T extends FilterableRow>(rows: T[]): Promise<T[]> => {
    const accounts = new Set<string>();
    for (const r of rows) accounts.add(r.account);
    const drop = new Map<string, { visitors: Set<string>; persons: Set<string> }>();
    for (const account of accounts) {
      await this.#upgrade(account);
      const [[, nv], [, np]] = (await this.redis.multi().scard(this.keys.erasedVisitors(account)).hlen(this.keys.erasedPersons(account)).exec()) as [
        [Error | null, number],
        [Error | null, number],
      ];
      if (!nv && !np) continue;
      const visitors: string[] = [];
      const persons: string[] = [];
      for (const r of rows) {
        if (r.account !== account) continue;
        const v = r.field('visitor_id');
        const p = r.field('person_id');
        if (v) visitors.push(v);
        if (p) persons.push(p);
      }
      drop.set(account, {
        visitors: nv ? await this.erasedVisitorsOf(account, visitors) : new Set(),
        persons: np ? await this.erasedPersonsOf(account, persons) : new Set(),
      });
    }
    if (!drop.size) return rows;
    return rows.filter((r) => {
      const marked = drop.get(r.account);
      if (!marked) return true;
      const v = r.field('visitor_id');
      const p = r.field('person_id');
      return !(v !== undefined && marked.visitors.has(v)) && !(p !== undefined && marked.persons.has(p));
    });
  };

  /**
   * Remove the rows of one account that `belongs` picks from its event stream, now: XACK (for a
   * consumer that already read them; its filter still drops them at flush) and XDEL. The
   * account's dead-letter stream (rows ClickHouse refused) is cleaned the same way. A stream
   * that lost entries is then rebuilt from its live ones (redis/stream-compact-1.lua).
   */
  async sweepStream(account: string, belongs: (row: Record<string, unknown>) => boolean): Promise<SweepResult> {
    const out: SweepResult = { removed: 0, leftInMemory: 0 };
    for (const stream of [this.keys.eventStream(account), this.keys.deadLetters(account)]) {
      const removed = await this.#sweep(stream, belongs);
      out.removed += removed;
      // XDEL only flags the entries: rebuild the stream so their bytes leave memory, and so the
      // AOF rewrite that follows the erasure.
      if (removed && Number(await callScript(this.redis, 'streamCompact', [stream], [COMPACT_MAX])) < 0) out.leftInMemory += removed;
    }
    return out;
  }

  async #sweep(stream: string, belongs: (row: Record<string, unknown>) => boolean): Promise<number> {
    let start = '-';
    let removed = 0;
    for (;;) {
      const entries = (await this.redis.xrange(stream, start, '+', 'COUNT', CHUNK)) as [string, string[]][];
      if (!entries.length) break;
      const hit: string[] = [];
      for (const [id, fields] of entries) {
        let json: string | undefined;
        for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'r') json = fields[i + 1];
        if (json === undefined) continue;
        try {
          const row = JSON.parse(json) as Record<string, unknown>;
          if (row && typeof row === 'object' && belongs(row)) hit.push(id);
        } catch {
          // An unparsable row is the flusher's to report and drop.
        }
      }
      if (hit.length) {
        try {
          await this.redis.xack(stream, FLUSH_GROUP, ...hit);
        } catch (err) {
          // No consumer group yet (no worker ever ran): nothing to acknowledge.
          if (!String((err as Error).message).includes('NOGROUP')) throw err;
        }
        removed += await this.redis.xdel(stream, ...hit);
      }
      if (entries.length < CHUNK) break;
      start = `(${entries[entries.length - 1]![0]}`;
    }
    return removed;
  }
}
