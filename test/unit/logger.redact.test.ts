import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';

/** A logger whose JSON lines are collected in memory. */
function captured(): { lines: Record<string, unknown>[]; log: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createLogger('info', sink) };
}

describe('the root logger', () => {
  it('censors keys, cookies, raw IPs and raw ids, at the top and one level down, in children too', () => {
    const { lines, log } = captured();
    log.child({ module: 'gateway' }).info(
      {
        key: 'k',
        ip: '203.0.113.9',
        personId: 'p-1',
        visitor_id: 'v-1',
        req: { headers: { cookie: 'mxy_v=x', authorization: 'Bearer y' } },
        job: { personId: 'p-2' },
      },
      'something',
    );
    const line = lines[0]!;
    expect(line).toMatchObject({ key: '[redacted]', ip: '[redacted]', personId: '[redacted]', visitor_id: '[redacted]', job: { personId: '[redacted]' } });
    expect(line.req).toEqual({ headers: { cookie: '[redacted]', authorization: '[redacted]' } });
    expect(JSON.stringify(line)).not.toMatch(/p-1|p-2|v-1|203\.0\.113\.9|mxy_v=x|Bearer y/);
  });
});
