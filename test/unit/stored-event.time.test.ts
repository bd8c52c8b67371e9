import { describe, expect, it } from 'vitest';
import { chTime } from '../../src/domain/stored-event.js';

describe('chTime (the events table text of a time)', () => {
  it('writes UTC as YYYY-MM-DD hh:mm:ss.sss, the same for a repeated millisecond and new for the next', () => {
    const t = Date.UTC(2026, 11, 1, 23, 4, 5, 67);
    expect(chTime(0)).toBe('1970-01-01 00:00:00.000');
    expect(chTime(t)).toBe('2026-12-01 23:04:05.067');
    expect(chTime(t)).toBe('2026-12-01 23:04:05.067');
    expect(chTime(t + 1)).toBe('2026-12-01 23:04:05.068');
    expect(chTime(t)).toBe('2026-12-01 23:04:05.067');
  });
});
