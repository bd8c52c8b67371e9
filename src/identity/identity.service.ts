import type { Account } from '../domain/account.js';
import { kv, type Logger } from '../logger.js';
import { TABLES } from '../adapters/clickhouse/tables.js';
import type { RedisClient } from '../adapters/redis/client.js';
import type { RedisKeys } from '../adapters/redis/keys.js';
import type { ErasedStore } from '../adapters/redis/erased.store.js';
import type { StreamRow } from '../adapters/redis/row-stream.js';
import type { TokenSecretStore } from '../adapters/secrets/token-secret.store.js';
import type { IngestIdentity } from '../ingest/index.js';
import type { StoredEvent } from '../domain/stored-event.js';
import type { Pseudonyms } from '../domain/pseudonym.js';
import { PersonErasedError } from '../errors.js';
import { expiryFor, MAX_TOKEN_TTL_MS, revokedByErasure, signToken, verifyToken, type RejectReason, type TokenCheck } from '../domain/visitor-token.js';
import { chTimeMs, edgeRow, type EdgeSource } from './edge.js';

/** A claim lives this long: an edge row whose append failed is written again after it. */
export const CLAIM_MS = 60_000;
/** The worker keeps a confirmed binding this long (renewed by each new edge of the visitor). */
export const BINDING_TTL_S = 400 * 86_400;
/** A process remembers "visitor V is bound to P" this long before asking Redis again. */
const BOUND_CACHE_MS = 60_000;
const CACHE_CAP = 100_000;
/** The same rejected token is logged once per this window (a stale cookie comes with every heartbeat). */
const REJECT_LOG_MS = 60_000;

/** A small map with per-entry expiry and a size cap (cleared wholesale when full: it is only a cache). */
class TtlCache<V> {
  readonly #m = new Map<string, { v: V; until: number }>();
  constructor(private readonly cap: number) {}
  get(k: string, now: number): V | undefined {
    const e = this.#m.get(k);
    if (!e) return undefined;
    if (e.until <= now) {
      this.#m.delete(k);
      return undefined;
    }
    return e.v;
  }
  has(k: string, now: number): boolean {
    return this.get(k, now) !== undefined;
  }
  set(k: string, v: V, until: number): void {
    if (this.#m.size >= this.cap) this.#m.clear();
    this.#m.set(k, { v, until });
  }
}

export interface IdentityServiceDeps {
  redis: RedisClient;
  keys: RedisKeys;
  secrets: TokenSecretStore;
  /** Erasure marks: the token revocation list. */
  erased: ErasedStore;
  /** How log lines name persons and visitors. */
  ids: Pseudonyms;
  log: Logger;
  /** See config TOKEN_REVOCATION_CACHE_MS. */
  revocationCacheMs: number;
}

export type TokenVia = 'cookie' | 'click' | 'mint';

/**
 * The gateway side of identity: verifies tokens (signature, expiry, revocation by erasure),
 * attributes ingest to the person of a valid `mxy_v` cookie, and emits the identity edge of a
 * browser's first valid token as a stream row next to its events.
 */
export class IdentityService implements IngestIdentity {
  readonly #erasedAt = new TtlCache<number | null>(CACHE_CAP);
  readonly #bound = new TtlCache<string>(CACHE_CAP);
  readonly #rejectLogged = new TtlCache<true>(10_000);

  constructor(private readonly deps: IdentityServiceDeps) {}

  /** When the person was erased (epoch ms), cached per account and person for `revocationCacheMs`. */
  async erasedAt(account: string, person: string, now: number): Promise<number | undefined> {
    const k = `${account}\u0000${person}`;
    const hit = this.#erasedAt.get(k, now);
    if (hit !== undefined) return hit ?? undefined;
    const value = (await this.deps.erased.erasedAt(account, person)) ?? null;
    if (this.deps.revocationCacheMs > 0) this.#erasedAt.set(k, value, now + this.deps.revocationCacheMs);
    return value ?? undefined;
  }

  /**
   * Full verification of a token for an account: signature under the account's current or
   * previous secret (constant time), expiry, then revocation (Redis is asked only for tokens
   * whose signature is good).
   */
  async check(account: Account, token: string, now: number): Promise<TokenCheck> {
    const secrets = await this.deps.secrets.get(account.id);
    const res = verifyToken(token, secrets.all, now);
    if (!res.ok) return res;
    if (revokedByErasure(res.expiryMs, await this.erasedAt(account.id, res.personId, now))) return { ok: false, reason: 'revoked' };
    return res;
  }

  /** `[token-bind] reject reason=…` (once a minute per token, so a stale cookie does not flood the log). */
  logReject(account: string, reason: RejectReason, via: TokenVia, token: string, now: number): void {
    const k = `${account}\u0000${token}`;
    if (this.#rejectLogged.has(k, now)) return;
    this.#rejectLogged.set(k, true, now + REJECT_LOG_MS);
    this.deps.log.info({ account, reason, via }, `[token-bind] reject ${kv({ reason, account, via })}`);
  }

  async personFromCookie(account: Account, cookie: string | undefined, now: number): Promise<string | undefined> {
    if (!cookie) return undefined;
    const res = await this.check(account, cookie, now);
    if (res.ok) return res.personId;
    this.logReject(account.id, res.reason, 'cookie', cookie, now);
    return undefined;
  }

  /**
   * The identity edge of each (visitor, person) pair of these events that is not the visitor's
   * binding yet. Events carry a person only from a verified token, so the edge has source
   * `token` and confidence 1. A claim in Redis keeps concurrent requests (any gateway) from
   * writing the same edge twice before the worker confirms it.
   */
  async rowsFor(account: Account, events: readonly StoredEvent[]): Promise<StreamRow[]> {
    const out: StreamRow[] = [];
    const seen = new Set<string>();
    const now = Date.now();
    for (const e of events) {
      if (!e.person_id || !e.visitor_id) continue;
      const pair = `${e.visitor_id}\u0000${e.person_id}`;
      if (seen.has(pair)) continue;
      seen.add(pair);
      const row = await this.#bindRow(account.id, e.visitor_id, e.person_id, 'token', 1, chTimeMs(e.received_at) || now, now);
      if (row) out.push(row);
    }
    return out;
  }

  async #bindRow(
    account: string,
    visitor: string,
    person: string,
    source: EdgeSource,
    confidence: number,
    tsMs: number,
    now: number,
  ): Promise<StreamRow | undefined> {
    const cacheKey = `${account}\u0000${visitor}`;
    if (this.#bound.get(cacheKey, now) === person) return undefined;
    const { redis, keys } = this.deps;
    const current = parseBinding(await redis.get(keys.identityBinding(account, visitor)));
    if (current?.person === person) {
      this.#bound.set(cacheKey, person, now + BOUND_CACHE_MS);
      return undefined;
    }
    const claimed = await redis.set(keys.identityClaim(account, visitor, person), String(tsMs), 'PX', CLAIM_MS, 'NX');
    this.#bound.set(cacheKey, person, now + BOUND_CACHE_MS);
    if (claimed !== 'OK') return undefined;
    if (current) {
      // Newest wins: the new edge becomes the visitor's person; the old edge stays as history.
      const { ids } = this.deps;
      const fields = {
        account,
        visitor: ids.visitorLogId(account, visitor),
        from: ids.personLogId(account, current.person),
        to: ids.personLogId(account, person),
      };
      this.deps.log.info(fields, `[token-bind] rebind ${kv(fields)}`);
    }
    return { table: TABLES.identityEdges, row: edgeRow(account, visitor, person, source, confidence, tsMs) };
  }

  /**
   * Mint a token for a person of the account (default 30 days, at most 365). Refused for an
   * erased person while every token minted now would be rejected as revoked anyway.
   */
  async mint(account: Account, personId: string, ttlMs: number | undefined, now: number): Promise<{ token: string; expiryMs: number }> {
    const expiryMs = expiryFor(now, ttlMs);
    const erasedAtMs = await this.erasedAt(account.id, personId, now);
    if (revokedByErasure(expiryMs, erasedAtMs)) {
      throw new PersonErasedError(
        `person ${personId} was erased; tokens expiring before ${new Date(erasedAtMs! + MAX_TOKEN_TTL_MS).toISOString()} are revoked (use a new person id)`,
      );
    }
    const secrets = await this.deps.secrets.get(account.id);
    return { token: signToken(secrets.current, personId, expiryMs), expiryMs };
  }

  /** The edge row of an operator's `identify` (always written: the operator's newest word wins). */
  identifyRow(account: string, visitor: string, person: string, confidence: number, now: number): StreamRow {
    return { table: TABLES.identityEdges, row: edgeRow(account, visitor, person, 'identify', confidence, now) };
  }
}

/** `<tsMs>:<personId>` → its parts. */
export function parseBinding(raw: string | null | undefined): { tsMs: number; person: string } | undefined {
  if (!raw) return undefined;
  const i = raw.indexOf(':');
  if (i <= 0) return undefined;
  const tsMs = Number(raw.slice(0, i));
  const person = raw.slice(i + 1);
  return Number.isFinite(tsMs) && person ? { tsMs, person } : undefined;
}
