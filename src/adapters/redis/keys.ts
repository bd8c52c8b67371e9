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
    return `${this.#acct(account)}:eid:${eventId}`;
  }

  /** Daily IP-hash salt, shared by every gateway; rotated by its date. */
  ipSalt(day: string): string {
    return `${this.prefix}:ipsalt:${day}`;
  }

  /** Visitors whose data was erased: their events still in the stream are dropped at flush. */
  erasedVisitors(account: string): string {
    return `${this.#acct(account)}:erased:visitors`;
  }

  /** Persons erased (hash person → erasedAtMs): their tokens issued before that are revoked. */
  erasedPersons(account: string): string {
    return `${this.#acct(account)}:erased:persons`;
  }

  /** Pub/sub channel of presence diffs for one account (all gateways subscribe). */
  presenceChannel(account: string): string {
    return `${this.#acct(account)}:presence:diffs`;
  }

  /** Prefix for every per-account presence key; the presence store derives its keys from it. */
  presencePrefix(account: string): string {
    return `${this.#acct(account)}:presence`;
  }

  /** BullMQ prefix: queues get their own hash tag inside it. */
  queuePrefix(): string {
    return `${this.prefix}:q`;
  }
}

/** Consumer group of the flush workers on every event stream. */
export const FLUSH_GROUP = 'flush';
