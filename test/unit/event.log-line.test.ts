import { describe, expect, it } from 'vitest';
import { visitorEventLine } from '../../src/domain/log-lines.js';
import { normalizeEvent } from '../../src/domain/event.normalize.js';
import { zBeaconEvent } from '../../src/domain/event.schema.js';

const ctx = { receivedAt: Date.UTC(2026, 10, 23), userAgent: 'Mozilla/5.0 Chrome/124.0 Safari/537.36', ipHash: 'h' };
const stored = (over: Record<string, unknown>, personId?: string) =>
  normalizeEvent(zBeaconEvent.parse({ account: 'acme', sessionId: 's', visitorId: 'v', path: '/listings/x', type: 'pageview', ...over }), 'acme', {
    ...ctx,
    personId,
  });

describe('[visitor-event] line', () => {
  it('is the tag, type=, the type’s own field, then account and path: the operator greps match verbatim', () => {
    expect(visitorEventLine(stored({}))).toBe('[visitor-event] type=pageview account=acme path=/listings/x');
    expect(visitorEventLine(stored({ type: 'scroll', depth: 50 }))).toBe('[visitor-event] type=scroll depth=50 account=acme path=/listings/x');
    expect(visitorEventLine(stored({ type: 'click', label: 'floorplan' }))).toBe('[visitor-event] type=click label=floorplan account=acme path=/listings/x');
    expect(visitorEventLine(stored({ type: 'leave', dwellMs: 900 }))).toBe('[visitor-event] type=leave dwell_ms=900 account=acme path=/listings/x');
  });

  it('puts the other fields after the path, and the person as the caller names them', () => {
    const e = stored({ type: 'click', label: 'card', listing: '12-high-st' }, 'p-42');
    expect(visitorEventLine(e)).toBe('[visitor-event] type=click label=card account=acme path=/listings/x listing=12-high-st person=p-42');
    expect(visitorEventLine(e, 'ps-9f')).toBe('[visitor-event] type=click label=card account=acme path=/listings/x listing=12-high-st person=ps-9f');
    expect(visitorEventLine(stored({ type: 'pageview', label: 'x y' }))).toBe('[visitor-event] type=pageview account=acme path=/listings/x label=x_y');
  });
});
