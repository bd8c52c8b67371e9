import { beforeAll, describe, expect, it } from 'vitest';
import { beacon, eventually, postEvent, rows, type TestService } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { PresenceStore } from '../../src/adapters/redis/presence.store.js';
import { LiveClient, wsUrl } from './presence.live-client.js';

const TTL_MS = 1000;
const TIMEOUT = 'pw-timeout';
const PEAKS = 'pw-peaks';
const FORGET = 'pw-forget';

const presence = { heartbeatMs: 1000, ttlMs: TTL_MS, graceMs: 0 };
const main = useTestService({
  withRedis: true,
  accounts: [TIMEOUT, PEAKS, FORGET],
  accountFields: { [TIMEOUT]: { presence }, [PEAKS]: { presence }, [FORGET]: { presence: { ...presence, ttlMs: 60_000 } } },
  env: { PRESENCE_SWEEP_MS: '100', PRESENCE_SAMPLE_MS: '300' },
});
let worker: TestService;

const key = (id: string) => main.accounts.find((a) => a.id === id)!.adminKey;

async function send(events: Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < events.length; i += 20) {
    const res = await postEvent(main.url, { events: events.slice(i, i + 20) });
    expect(res.status).toBe(204);
  }
}

beforeAll(async () => {
  // A second worker process on the same Redis: its sweeper competes for the lease.
  worker = await main.fx.start({ reuse: main, env: { ROLES: 'worker' } });
});

describe('presence sweeper', () => {
  it('is active in one worker process at a time, and hands over when that one stops', async () => {
    const sweepers = [main.service.sweeper!, worker.service.sweeper!];
    await eventually(() => sweepers.filter((s) => s.holding).length === 1);
    await new Promise((r) => setTimeout(r, 500));
    expect(sweepers.filter((s) => s.holding)).toHaveLength(1);
    const holder = sweepers.find((s) => s.holding)!;
    const other = sweepers.find((s) => !s.holding)!;
    await holder.stop();
    await eventually(() => other.holding);
    const logs = [...main.messages(), ...worker.messages()].filter((m) => m.startsWith('[presence-sweeper] lease=taken'));
    expect(logs).toHaveLength(2);
    // The stopped one stays stopped; start it again for the rest of the file.
    holder.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(sweepers.filter((s) => s.holding)).toHaveLength(1);
  });

  it('gives each timed-out visitor exactly one leave, and keeps a visitor whose other tab is alive', async () => {
    const c = await LiveClient.connect(wsUrl(main.url, '/live', { key: key(TIMEOUT) }));
    await c.waitFor((m) => m.type === 'snapshot');
    const quiet = Array.from({ length: 20 }, (_, i) => `quiet-${i}`);
    await send(
      quiet.flatMap((v) => [
        beacon(TIMEOUT, { visitorId: v, sessionId: `${v}-a`, path: '/x' }),
        beacon(TIMEOUT, { visitorId: v, sessionId: `${v}-b`, path: '/y' }),
      ]),
    );
    await send([
      beacon(TIMEOUT, { visitorId: 'alive', sessionId: 'alive-a', path: '/x' }),
      beacon(TIMEOUT, { visitorId: 'alive', sessionId: 'alive-b', path: '/y' }),
    ]);
    // Only tab a of `alive` keeps beating, past several TTLs and to the end of the checks (a
    // TTL is 1 s: on a busy machine the checks alone could outlast it).
    let beating = true;
    const beats = (async () => {
      while (beating) {
        await send([beacon(TIMEOUT, { visitorId: 'alive', sessionId: 'alive-a', path: '/x', type: 'heartbeat' })]);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, TTL_MS * 3));
      await c.waitFor((m) => m.type === 'leave' && m.online === 1);

      for (const v of quiet) {
        const about = c.about(v);
        expect(about.map((m) => m.type)).toEqual(['join', 'event', 'update', 'event', 'leave']);
        expect(about.at(-1)).toMatchObject({ reason: 'timeout' });
      }
      expect(c.about('alive').filter((m) => m.type === 'leave')).toEqual([]);
      const tabGone = c.about('alive').find((m) => m.type === 'update' && m.visitor.tabs === 1 && m.visitor.openPages.length === 1);
      expect(tabGone!.visitor).toMatchObject({ openPages: ['/x'] });
      const online = await (await fetch(`${main.url}/api/online`, { headers: { authorization: `Bearer ${key(TIMEOUT)}` } })).json();
      expect(online).toMatchObject({ online: 1, pages: [{ path: '/x', count: 1, authenticated: 0 }] });
      // Nothing more arrives for those who left: still exactly one leave each.
      await new Promise((r) => setTimeout(r, 500));
      expect(c.messages.filter((m) => m.type === 'leave')).toHaveLength(quiet.length);
    } finally {
      beating = false;
      await beats;
    }
    c.close();
  });

  it('records concurrency samples and the daily, weekly and monthly peak in ClickHouse', async () => {
    const visitors = Array.from({ length: 7 }, (_, i) => `peak-${i}`);
    await send(visitors.map((v) => beacon(PEAKS, { visitorId: v, sessionId: `${v}-s`, path: '/peak' })));
    // Everyone times out; the peak of 7 was at no sample time necessarily, yet it is recorded.
    await eventually(async () => {
      const r = await rows<{ peak: number }>(main.ch, 'SELECT max(peak) AS peak FROM presence_samples WHERE account_id = {a:String}', { a: PEAKS });
      return Number(r[0]?.peak) === visitors.length;
    }, 15_000);
    await eventually(async () => {
      const r = await (await fetch(`${main.url}/api/online`, { headers: { authorization: `Bearer ${key(PEAKS)}` } })).json();
      return r.online === 0;
    });
    const samples = await rows<{ online: number; peak: number; anonymous: number }>(
      main.ch,
      'SELECT online, peak, anonymous FROM presence_samples FINAL WHERE account_id = {a:String} ORDER BY ts',
      { a: PEAKS },
    );
    expect(samples.every((s) => Number(s.online) <= visitors.length && Number(s.peak) >= Number(s.online))).toBe(true);
    const peaks = await rows<{ period: string; peak: number }>(
      main.ch,
      'SELECT period, max(peak) AS peak FROM presence_peaks WHERE account_id = {a:String} GROUP BY period ORDER BY period',
      { a: PEAKS },
    );
    expect(peaks.map((p) => [p.period, Number(p.peak)])).toEqual([
      ['day', 7],
      ['month', 7],
      ['week', 7],
    ]);
    await eventually(async () => {
      const r = await (await fetch(`${main.url}/api/online`, { headers: { authorization: `Bearer ${key(PEAKS)}` } })).json();
      return r.online === 0 && r.peaks?.day === 7 && r.peaks.week === 7 && r.peaks.month === 7;
    });
  });

  it('forget() removes visitors at once with one leave each and counts only those present', async () => {
    const c = await LiveClient.connect(wsUrl(main.url, '/live', { key: key(FORGET) }));
    await c.waitFor((m) => m.type === 'snapshot');
    await send([
      beacon(FORGET, { visitorId: 'f1', sessionId: 'f1-a', path: '/a' }),
      beacon(FORGET, { visitorId: 'f1', sessionId: 'f1-b', path: '/b' }),
      beacon(FORGET, { visitorId: 'f2', sessionId: 'f2-a', path: '/a' }),
      beacon(FORGET, { visitorId: 'f3', sessionId: 'f3-a', path: '/a' }),
    ]);
    await c.waitFor((m) => m.type === 'join' && m.online === 3);
    const store = new PresenceStore(main.service.redis, main.service.keys);
    expect(await store.forget(FORGET, ['f1', 'f2', 'never-seen'])).toBe(2);
    expect(await store.forget(FORGET, ['f1'])).toBe(0);
    await c.waitFor((m) => m.type === 'leave' && m.visitorId === 'f2');
    expect(c.messages.filter((m) => m.type === 'leave').map((m) => [m.visitorId, m.reason, m.online])).toEqual([
      ['f1', 'forget', 2],
      ['f2', 'forget', 1],
    ]);
    const online = await (await fetch(`${main.url}/api/visitors/live`, { headers: { authorization: `Bearer ${key(FORGET)}` } })).json();
    expect(online.visitors.map((v: { visitorId: string }) => v.visitorId)).toEqual(['f3']);
    const pages = await (await fetch(`${main.url}/api/online`, { headers: { authorization: `Bearer ${key(FORGET)}` } })).json();
    expect(pages.pages).toEqual([{ path: '/a', count: 1, authenticated: 0 }]);
    // Nothing of theirs is left in Redis.
    const left = await main.service.redis.keys(`${main.service.keys.presencePrefix(FORGET)}:v*:f[12]`);
    expect(left).toEqual([]);
    c.close();
  });
});
