import { createHash, randomBytes } from 'node:crypto';
import { BoundedMemo } from '../../domain/bounded-memo.js';
import type { RedisClient } from './client.js';
import type { RedisKeys } from './keys.js';

const DAY_MS = 86_400_000;

export interface IpHasherOptions {
  /**
   * How long after midnight (UTC) the past day's salt is kept, for gateways whose clock lags
   * a little. Past it the salt is gone from Redis, so no hash of that day can be reversed.
   * @defaultValue 600000 (10 minutes)
   */
  graceMs?: number;
}

function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** When a day's salt is deleted: the next midnight (UTC) plus the grace window. */
function saltEnd(day: string, graceMs: number): number {
  return Date.parse(`${day}T00:00:00Z`) + DAY_MS + graceMs;
}

/**
 * Daily-rotated salt for hashing client IPs, shared by every gateway through Redis (SET NX:
 * the first gateway of the day picks it). A day's salt expires in Redis at the next midnight
 * plus a short grace window (`PXAT`), and the first gateway to take a new day's salt also cuts
 * the previous day's expiry to that moment (deleting it outright once the window is over, and
 * so also any salt an earlier release kept for two days). Without the salt, a past day's hashes
 * cannot be reversed by trying every IPv4 address.
 *
 * A request stamped with a day whose salt is already gone (a clock that lags past the window)
 * is hashed with the salt of the day Redis is in, never with a salt made again for the past day.
 */
export class IpHasher {
  #day = '';
  /** The span of `#day` in ms since the epoch, so a request's day is two comparisons. */
  #dayStart = 0;
  #dayEnd = 0;
  #salt = '';
  /**
   * Hashes of this day's salt by IP: a client sends many requests (heartbeats, batches) and a
   * SHA-256 per request was a visible share of the gateway's CPU. Bounded, cleared when full
   * and whenever the salt changes.
   */
  readonly #hashes = new BoundedMemo<string>(50_000);
  readonly #graceMs: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    opts: IpHasherOptions = {},
  ) {
    this.#graceMs = opts.graceMs ?? 600_000;
  }

  async #saltFor(day: string): Promise<string> {
    if (day === this.#day) return this.#salt;
    let use = day;
    // Two steps at most: the asked day, then the next one when the asked day's salt is over.
    for (let step = 0; step < 2; step++) {
      const key = this.keys.ipSalt(use);
      const end = saltEnd(use, this.#graceMs);
      // An expiry already in the past (by Redis's clock) sets nothing: the day is over.
      await this.redis.set(key, randomBytes(16).toString('hex'), 'PXAT', end, 'NX');
      const salt = await this.redis.get(key);
      if (salt !== null) {
        const previous = dayOf(Date.parse(`${use}T00:00:00Z`) - DAY_MS);
        // Rotation: the previous day's salt lives no longer than the grace window (gone at once past it).
        await this.redis.pexpireat(this.keys.ipSalt(previous), saltEnd(previous, this.#graceMs));
        this.#day = day;
        this.#dayStart = Date.parse(`${day}T00:00:00Z`);
        this.#dayEnd = this.#dayStart + DAY_MS;
        if (salt !== this.#salt) this.#hashes.clear();
        this.#salt = salt;
        return salt;
      }
      use = dayOf(Date.parse(`${use}T00:00:00Z`) + DAY_MS);
    }
    throw new Error(`no IP salt for ${day}: the Redis clock is more than a day ahead of this gateway`);
  }

  /** Synchronous once the day's salt is cached; call `ready()` at start and it stays warm. */
  hashSync(ip: string, now = Date.now()): string | undefined {
    if (now < this.#dayStart || now >= this.#dayEnd) return undefined;
    return this.#hashes.get(ip, () => createHash('sha256').update(this.#salt).update(ip).digest('hex').slice(0, 32));
  }

  async hash(ip: string, now = Date.now()): Promise<string> {
    await this.#saltFor(dayOf(now));
    return this.hashSync(ip, now)!;
  }

  async ready(): Promise<void> {
    await this.#saltFor(dayOf(Date.now()));
  }
}
