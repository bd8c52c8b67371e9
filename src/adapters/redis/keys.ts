/**
 * Every Redis key string is built here. Each account's keys share the `{account}` hash tag so
 * that a Lua script touching several of them runs on one Redis Cluster slot.
 */
export class RedisKeys {
  /** @param prefix namespace for every key (tests use a random one). */
  constructor(readonly prefix: string = 'v') {}

  #acct(account: string): string {
    return `${this.prefix}:{${account}}`;
  }

  /** Stream of accepted events for one account (XADD by gateways, XREADGROUP by flush workers). */
  eventStream(account: string): string {
    return `${this.#acct(account)}:events`;
  }

  /** Marker of a client-supplied event id, so a retried beacon is accepted once. */
  eventIdSeen(account: string, eventId: string): string {
    return this.eventIdSeenPrefix(account) + eventId;
  }

  /** What every marker of {@link eventIdSeen} starts with (ingest-commit.lua appends the id). */
  eventIdSeenPrefix(account: string): string {
    return `${this.#acct(account)}:eid:`;
  }

  /** Daily IP-hash salt, shared by every gateway; rotated by its date. */
  ipSalt(day: string): string {
    return `${this.prefix}:ipsalt:${day}`;
  }

  /**
   * Visitors whose data was erased, as keyed hashes (erased.store.ts): their events still in
   * the stream are dropped at flush.
   */
  erasedVisitors(account: string): string {
    return `${this.#acct(account)}:erased:vmarks`;
  }

  /** Persons erased (hash mark(person) → erasedAtMs): their tokens issued before that are revoked. */
  erasedPersons(account: string): string {
    return `${this.#acct(account)}:erased:pmarks`;
  }

  /** Earlier releases kept raw ids in these; erased.store.ts converts them to marks once. */
  legacyErasedVisitors(account: string): string {
    return `${this.#acct(account)}:erased:visitors`;
  }

  legacyErasedPersons(account: string): string {
    return `${this.#acct(account)}:erased:persons`;
  }

  /**
   * A visitor's confirmed current person, `<edgeTsMs>:<personId>`: set by the worker once the
   * identity edge is in ClickHouse (newest edge wins), read by gateways so a binding is written
   * once. Erasure may delete it with the person's visitors.
   */
  identityBinding(account: string, visitor: string): string {
    return `${this.#acct(account)}:idbind:${visitor}`;
  }

  /** Short-lived claim "an edge visitor → person is on its way" (no duplicate edges before the worker confirms). */
  identityClaim(account: string, visitor: string, person: string): string {
    // `|` is outside the id alphabet: no two (visitor, person) pairs share a key.
    return `${this.#acct(account)}:idclaim:${visitor}|${person}`;
  }

  /** Pub/sub channel of presence diffs for one account (all gateways subscribe). */
  presenceChannel(account: string): string {
    return `${this.#acct(account)}:presence:diffs`;
  }

  /** Prefix for every per-account presence key; the presence store derives its keys from it. */
  presencePrefix(account: string): string {
    return `${this.#acct(account)}:presence`;
  }

  /**
   * Present while some gateway has a live client of the account (a TTL it keeps refreshing): the
   * presence scripts build diffs only then (includes/presence-core.lua `announced`).
   */
  presenceWatched(account: string): string {
    return `${this.presencePrefix(account)}:watched`;
  }

  /** Sequence number of the account's last presence diff (written by the presence scripts). */
  presenceSeq(account: string): string {
    return `${this.presencePrefix(account)}:seq`;
  }

  /** Lease of the one active presence sweeper across worker processes. */
  presenceSweeperLease(): string {
    return `${this.prefix}:presence:sweeper-lease`;
  }

  /**
   * Rows ClickHouse refused as data (a parse or type error no retry can fix), moved here by the
   * flusher so they cannot block the stream: kept for an operator to inspect and replay, never dropped.
   */
  deadLetters(account: string): string {
    return `${this.#acct(account)}:dead-letters`;
  }

  /** BullMQ prefix: queues get their own hash tag inside it. */
  queuePrefix(): string {
    return `${this.prefix}:q`;
  }
}

/** Consumer group of the flush workers on every event stream. */
export const FLUSH_GROUP = 'flush';
