import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('config', () => {
  it('applies documented defaults', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(8080);
    expect(c.DATA_DIR).toBe('./data');
    expect(c.CLICKHOUSE_DATABASE).toBe('visitor');
    expect(c.ROLES).toEqual(['gateway', 'worker', 'store']);
    expect(c.FLUSH_IN_FLIGHT).toBe(3);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('bounds the batches a worker holds in flight', () => {
    expect(loadConfig({ FLUSH_IN_FLIGHT: '1' }).FLUSH_IN_FLIGHT).toBe(1);
    for (const bad of ['0', '9', '2.5', 'many']) expect(() => loadConfig({ FLUSH_IN_FLIGHT: bad }), bad).toThrow(/FLUSH_IN_FLIGHT/);
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
