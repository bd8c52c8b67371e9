import { describe, expect, it } from 'vitest';
import { ERROR_CLASSES, GatewayError, InternalError, RateLimitedError, toGatewayError } from '../../src/errors.js';

describe('error registry', () => {
  it('has unique codes and reasons, each with a 4xx/5xx status and its class name', () => {
    const instances = ERROR_CLASSES.map((C) => new C());
    const codes = instances.map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    const reasons = instances.map((e) => e.reason);
    expect(new Set(reasons).size).toBe(reasons.length);
    for (const e of instances) {
      expect(e.code).toMatch(/^GW_ERR_[A-Z_]+$/);
      expect(e.status).toBeGreaterThanOrEqual(400);
      expect(e.status).toBeLessThan(600);
      expect(e.name).toBe(e.constructor.name);
    }
  });

  it('maps unknown errors to an internal error without leaking their message', () => {
    const e = toGatewayError(new Error('secret detail'));
    expect(e).toBeInstanceOf(InternalError);
    expect(e.message).not.toContain('secret');
    const known = new RateLimitedError();
    expect(toGatewayError(known)).toBe(known);
    expect(known).toBeInstanceOf(GatewayError);
    expect(known.status).toBe(429);
  });
});
