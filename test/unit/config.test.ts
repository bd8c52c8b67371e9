import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('config', () => {
  it('applies documented defaults', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(8080);
    expect(c.DATA_DIR).toBe('./data');
    expect(c.CLICKHOUSE_DATABASE).toBe('visitor');
    expect(c.ROLES).toEqual(['gateway', 'worker', 'store']);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('names every bad variable in one error', () => {
    let err: unknown;
    try {
      loadConfig({ PORT: 'eighty', ROLES: 'gateway,cook', REDIS_URL: 'not a url', CLICKHOUSE_DATABASE: 'x; DROP' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    for (const key of ['PORT', 'ROLES', 'REDIS_URL', 'CLICKHOUSE_DATABASE']) expect(msg).toContain(key);
  });

  it('parses roles for single-role processes', () => {
    expect(loadConfig({ ROLES: 'worker' }).ROLES).toEqual(['worker']);
  });
});
