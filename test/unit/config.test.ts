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
    expect(c.INGEST_QUEUE_MAX_MS).toBe(500);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('bounds the batches a worker holds in flight', () => {
    expect(loadConfig({ FLUSH_IN_FLIGHT: '1' }).FLUSH_IN_FLIGHT).toBe(1);
    for (const bad of ['0', '9', '2.5', 'many']) expect(() => loadConfig({ FLUSH_IN_FLIGHT: bad }), bad).toThrow(/FLUSH_IN_FLIGHT/);
  });

  it('bounds how long ingest lets a call wait for Redis', () => {
    expect(loadConfig({ INGEST_QUEUE_MAX_MS: '250' }).INGEST_QUEUE_MAX_MS).toBe(250);
    for (const bad of ['0', '9', '60001', 'soon']) expect(() => loadConfig({ INGEST_QUEUE_MAX_MS: bad }), bad).toThrow(/INGEST_QUEUE_MAX_MS/);
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
