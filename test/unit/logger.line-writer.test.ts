import { describe, expect, it } from 'vitest';
import { createLogger, FixedLineWriter, isoTimeOncePerMs } from '../../src/logger.js';

/** A logger whose raw lines are collected in memory, exactly as written. */
function captured(level = 'info'): { raw: string[]; log: ReturnType<typeof createLogger> } {
  const raw: string[] = [];
  return { raw, log: createLogger(level, { write: (chunk: string) => void raw.push(chunk) }) };
}

const TIME = /,"time":"[^"]+"/;

describe('the fixed-shape line writer', () => {
  it('writes the very bytes pino writes for the same fields and message, bindings and all', () => {
    const { raw, log } = captured();
    const child = log.child({ module: 'gateway', worker: 2 });
    const writer = new FixedLineWriter(child, ['account', 'type', 'eventId']);
    const cases: [string[], string][] = [
      [['acme', 'pageview', '0192aaaa-bbbb-4ccc-8ddd-000000000001'], '[visitor-event] type=pageview account=acme path=/listings/1-high-st'],
      [['a"b', 'click', 'x\\y'], '[visitor-event] type=click label="Book a viewing" path=/x\\y é ✓'],
      [['acme', 'scroll', 'e'], `[visitor-event] ${'long=value '.repeat(20)}`],
    ];
    for (const [values, msg] of cases) {
      child.info({ account: values[0], type: values[1], eventId: values[2] }, msg);
      writer.info(values, msg);
    }
    expect(raw).toHaveLength(cases.length * 2);
    for (let i = 0; i < raw.length; i += 2) {
      expect(raw[i + 1]!.replace(TIME, '')).toBe(raw[i]!.replace(TIME, ''));
      expect(raw[i + 1]).toMatch(TIME);
    }
    expect(JSON.parse(raw[3]!)).toMatchObject({ level: 30, module: 'gateway', worker: 2, account: 'a"b', eventId: 'x\\y' });
  });

  it('says whether info lines are enabled, as the logger does', () => {
    expect(new FixedLineWriter(captured('warn').log, ['a']).enabled).toBe(false);
    expect(new FixedLineWriter(captured('info').log, ['a']).enabled).toBe(true);
  });

  it('formats the time as pino does, in step with the clock', async () => {
    const first = isoTimeOncePerMs();
    expect(first).toMatch(/^,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/);
    const at = Date.parse(first.slice(9, -1));
    expect(Math.abs(at - Date.now())).toBeLessThan(50);
    await new Promise((r) => setTimeout(r, 5));
    expect(Date.parse(isoTimeOncePerMs().slice(9, -1))).toBeGreaterThan(at);
  });
});
