import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient } from './client.js';
import type { RedisKeys } from './keys.js';

/**
 * Daily-rotated salt for hashing client IPs, shared by every gateway through Redis
 * (SET NX: the first gateway of the day picks it). Kept two days so yesterday's hashes
 * stay comparable until midnight passes everywhere, then gone: hashes cannot be reversed.
 */
export class IpHasher {
  #day = '';
  #salt = '';

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  async #saltFor(day: string): Promise<string> {
    if (day === this.#day) return this.#salt;
    const key = this.keys.ipSalt(day);
    await this.redis.set(key, randomBytes(16).toString('hex'), 'EX', 2 * 86_400, 'NX');
    const salt = (await this.redis.get(key)) ?? '';
    this.#day = day;
    this.#salt = salt;
    return salt;
  }

  /** Synchronous once the day's salt is cached; call `ready()` at start and it stays warm. */
  hashSync(ip: string, now = Date.now()): string | undefined {
    const day = new Date(now).toISOString().slice(0, 10);
    if (day !== this.#day) return undefined;
    return createHash('sha256').update(this.#salt).update(ip).digest('hex').slice(0, 32);
  }

  async hash(ip: string, now = Date.now()): Promise<string> {
    const day = new Date(now).toISOString().slice(0, 10);
    await this.#saltFor(day);
    return this.hashSync(ip, now)!;
  }

  async ready(): Promise<void> {
    await this.#saltFor(new Date().toISOString().slice(0, 10));
  }
}
