/**
 * Answers of pure work that repeats across requests (user agents, URLs, addresses, IP hashes),
 * remembered by key. Bounded: cleared at once when full, which is cheaper than an LRU and enough
 * where few keys repeat; keys longer than `longestKey` are computed every time, never kept.
 */
export class BoundedMemo<V> {
  readonly #map = new Map<string, V>();

  constructor(
    private readonly max: number,
    private readonly longestKey = Number.POSITIVE_INFINITY,
  ) {}

  get(key: string, compute: (key: string) => V): V {
    let v = this.#map.get(key);
    if (v === undefined) {
      v = compute(key);
      if (key.length <= this.longestKey) {
        if (this.#map.size >= this.max) this.#map.clear();
        this.#map.set(key, v);
      }
    }
    return v;
  }

  clear(): void {
    this.#map.clear();
  }
}
