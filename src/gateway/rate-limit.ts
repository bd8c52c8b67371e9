/**
 * Per-client token bucket, in process: `rate` requests per second with a burst of `2 × rate`.
 * Each gateway limits on its own; behind a balancer that pins clients this is what is wanted.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #burst: number;
  readonly #timer: NodeJS.Timeout;

  constructor(private readonly rate: number) {
    this.#burst = rate * 2;
    // Drop full buckets so memory follows active clients, not every client ever seen.
    this.#timer = setInterval(() => this.#sweep(), 10_000);
    this.#timer.unref();
  }

  /** Take one token; returns 0 when allowed, else the seconds until one is available. */
  take(key: string, now = Date.now()): number {
    let b = this.#buckets.get(key);
    if (!b) this.#buckets.set(key, (b = { tokens: this.#burst, at: now }));
    b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.rate);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.rate));
  }

  #sweep(now = Date.now()): void {
    for (const [k, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.rate >= this.#burst) this.#buckets.delete(k);
    }
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
