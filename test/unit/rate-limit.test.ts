import { afterEach, describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/gateway/rate-limit.js';

describe('RateLimiter', () => {
  let rl: RateLimiter;
  afterEach(() => rl.close());

  it('allows a burst of twice the rate, then asks the client to wait', () => {
    rl = new RateLimiter(10);
    const t = 1_000_000;
    for (let i = 0; i < 20; i++) expect(rl.take('a', t)).toBe(0);
    expect(rl.take('a', t)).toBeGreaterThanOrEqual(1);
    expect(rl.take('b', t)).toBe(0);
  });

  it('refills over time', () => {
    rl = new RateLimiter(10);
    const t = 1_000_000;
    for (let i = 0; i < 20; i++) rl.take('a', t);
    expect(rl.take('a', t)).toBeGreaterThan(0);
    expect(rl.take('a', t + 200)).toBe(0);
  });
});
