import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { StoreUnreachableError, StreamAtCapError } from '../../src/adapters/errors.js';
import { describeIssues, ERROR_CLASSES, GatewayError, InternalError, RateLimitedError, StoreUnavailableError, StreamFullError } from '../../src/errors.js';
import { toGatewayError } from '../../src/gateway/error-map.js';

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

  it('captures no stack trace for a client error (4xx), and keeps the stack of a service error (5xx)', () => {
    const limit = Error.stackTraceLimit;
    for (const C of ERROR_CLASSES) {
      const e = new C('message');
      const frames = (e.stack ?? '').split('\n').filter((l) => l.trimStart().startsWith('at '));
      if (e.status >= 500) expect(frames.length, e.code).toBeGreaterThan(0);
      else expect(frames, e.code).toEqual([]);
      expect(e.stack, e.code).toContain('message');
    }
    // The limit is the process's again: other errors keep their traces.
    expect(Error.stackTraceLimit).toBe(limit);
    expect(new Error('x').stack?.split('\n').length).toBeGreaterThan(1);
  });

  it('takes retryAfter and cause in the constructor', () => {
    const cause = new Error('down');
    const e = new StoreUnavailableError('retry later', { retryAfter: 1, cause });
    expect(e.retryAfter).toBe(1);
    expect(e.cause).toBe(cause);
    expect(new RateLimitedError().retryAfter).toBeUndefined();
  });

  it('maps adapter errors: a full stream and an unreachable store are 503s, anything else a 500', () => {
    const full = toGatewayError(new StreamAtCapError('at cap', 2));
    expect(full).toBeInstanceOf(StreamFullError);
    expect(full.retryAfter).toBe(2);
    const down = toGatewayError(new StoreUnreachableError('redis', 'no'));
    expect(down).toBeInstanceOf(StoreUnavailableError);
    expect(down.retryAfter).toBe(1);
    expect(toGatewayError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBeInstanceOf(StoreUnavailableError);
    expect(toGatewayError(new Error("Stream isn't writeable and enableOfflineQueue options is false")).status).toBe(503);
    expect(toGatewayError(new TypeError('x is undefined')).status).toBe(500);
  });

  it('describes zod issues in one line, with a prefix', () => {
    const r = z.object({ a: z.number(), b: z.string() }).safeParse({ a: 'x' });
    expect(r.success).toBe(false);
    if (r.success) return;
    expect(describeIssues(r.error.issues, 'events.0.')).toMatch(/^events\.0\.a: .+; events\.0\.b: .+$/);
    const whole = z.number().safeParse('x');
    if (!whole.success) expect(describeIssues(whole.error.issues, '', '(input)')).toMatch(/^\(input\): /);
  });
});
