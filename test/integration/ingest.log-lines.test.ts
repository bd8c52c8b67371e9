import { describe, expect, it } from 'vitest';
import { beacon, eventually, postEvent } from '../support/services.js';
import { useTestService } from '../support/fixture.js';

// The account of the operator's greps, verbatim (the service's namespace is still its own).
const t = useTestService({ withRedis: true, accounts: ['acme'] });

describe('[visitor-event] lines as the operator greps them', () => {
  it('start with the tag, then type=, then the type’s own field, then the rest', async () => {
    const events = [
      beacon('acme', { type: 'pageview', path: '/listings/x' }),
      beacon('acme', { type: 'scroll', depth: 50, path: '/listings/x' }),
      beacon('acme', { type: 'click', label: 'floorplan', path: '/listings/x' }),
    ];
    expect((await postEvent(t.url, { events })).status).toBe(204);
    const greps = [
      '[visitor-event] type=pageview account=acme path=/listings/x',
      '[visitor-event] type=scroll depth=50 account=acme path=/listings/x',
      '[visitor-event] type=click label=floorplan account=acme path=/listings/x',
    ];
    // Read back from the JSON log lines, as an operator's grep of the log file would see them.
    const lines = await eventually(() => {
      const l = t.logs().filter((x) => String(x.msg).startsWith('[visitor-event]'));
      return l.length >= 3 ? l : undefined;
    });
    for (const g of greps)
      expect(
        lines.some((l) => String(l.msg).startsWith(g)),
        g,
      ).toBe(true);
    expect(lines.map((l) => l.msg)).toEqual(greps);
    // The fields travel in the object too, for log tooling.
    expect(lines[1]).toMatchObject({ account: 'acme', type: 'scroll', level: 30, eventId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  });

  it('puts every other field after account and path', async () => {
    const before = t.messages().length;
    const events = [
      beacon('acme', { type: 'leave', dwellMs: 1234, path: '/about' }),
      beacon('acme', { type: 'pageview', path: '/listings/12-high-st', listing: '12-high-st' }),
      beacon('acme', { type: 'download', label: 'brochure.pdf', path: '/listings/x' }),
    ];
    expect((await postEvent(t.url, { events })).status).toBe(204);
    const msgs = await eventually(() => {
      const m = t
        .messages()
        .slice(before)
        .filter((x) => x.startsWith('[visitor-event]'));
      return m.length >= 3 ? m : undefined;
    });
    expect(msgs).toEqual([
      '[visitor-event] type=leave dwell_ms=1234 account=acme path=/about',
      '[visitor-event] type=pageview account=acme path=/listings/12-high-st listing=12-high-st',
      '[visitor-event] type=download label=brochure.pdf account=acme path=/listings/x',
    ]);
  });
});
