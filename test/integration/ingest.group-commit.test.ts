import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, redisReady, type RedisClient } from '../../src/adapters/redis/client.js';
import { RedisKeys } from '../../src/adapters/redis/keys.js';
import { RowStream, type StreamRow } from '../../src/adapters/redis/row-stream.js';
import { BackpressureError, CommitQueueFullError, StreamAtCapError } from '../../src/adapters/errors.js';
import { presenceRow } from '../support/presence-rows.js';
import { eventually, holdRedis, startTestRedis, type TestRedis } from '../support/services.js';

let redis: TestRedis;
let client: RedisClient;
let keys: RedisKeys;
const PRESENCE = { ttlMs: 45_000, graceMs: 3000 };

beforeAll(async () => {
  redis = await startTestRedis();
  client = connectRedis({ url: redis.url });
  await redisReady(client);
  keys = new RedisKeys(`gc${randomBytes(3).toString('hex')}`);
});
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

/** Calls Redis has run so far of the named commands, together. */
async function commandCalls(...commands: string[]): Promise<number> {
  const stats = String(await client.info('commandstats'));
  let n = 0;
  for (const c of commands) n += Number(new RegExp(`cmdstat_${c}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  return n;
}

/** Scripts Redis ran (the first run of a script is an EVAL after EVALSHA's NOSCRIPT). */
const scriptCalls = () => commandCalls('eval', 'evalsha');

const row = (n: number, dedupeId?: string): StreamRow => ({ table: 'events', row: { n }, dedupeId });

/**
 * A subscriber to an account's presence channel. `heardUpTo` returns what was published since
 * the last call: everything published before its marker arrives before the marker.
 */
async function listen(account: string) {
  const channel = keys.presenceChannel(account);
  const subscriber = connectRedis({ url: redis.url });
  const heard: string[] = [];
  subscriber.on('message', (_channel: string, message: string) => heard.push(...message.split('\n')));
  await subscriber.subscribe(channel);
  let markers = 0;
  return {
    heardUpTo: async () => {
      const marker = `marker-${++markers}`;
      await client.publish(channel, marker);
      await eventually(() => heard.includes(marker) || undefined);
      return heard.splice(0).filter((m) => m !== marker);
    },
    close: () => subscriber.disconnect(),
  };
}

describe('group commit (one ingest-commit call per account per tick)', () => {
  it('takes the requests of one tick in one call, each with its own outcome and exact de-duplication', async () => {
    const stream = new RowStream(client, keys, 1000);
    const account = 'gc-a';
    const before = await scriptCalls();
    const [a, b, c] = await Promise.all([
      stream.append(account, [row(1, 'id-1'), row(2, 'id-2')]),
      stream.append(account, [row(3, 'id-3'), row(4, 'id-1')]),
      stream.append(account, [row(5)]),
    ]);
    expect(await scriptCalls()).toBe(before + 1);
    expect(a).toEqual(['accepted', 'accepted']);
    // id-1 was taken by the first request of the same call: the second is a retry.
    expect(b).toEqual(['accepted', 'duplicate']);
    expect(c).toEqual(['accepted']);
    const entries = (await client.xrange(keys.eventStream(account), '-', '+')) as [string, string[]][];
    expect(entries.map(([, f]) => JSON.parse(f[3]!).n)).toEqual([1, 2, 3, 5]);
  });

  it('keeps each request all or nothing: one refused at the cap, the others of the call written', async () => {
    const stream = new RowStream(client, keys, 100);
    const account = 'gc-cap';
    await stream.append(
      account,
      Array.from({ length: 95 }, (_, i) => row(i)),
    );
    const before = await scriptCalls();
    const results = await Promise.allSettled([
      stream.append(
        account,
        Array.from({ length: 10 }, (_, i) => row(100 + i)),
      ),
      stream.append(account, [row(200), row(201), row(202)]),
    ]);
    expect(await scriptCalls()).toBe(before + 1);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: expect.any(StreamAtCapError) });
    expect(results[1]).toEqual({ status: 'fulfilled', value: ['accepted', 'accepted', 'accepted'] });
    expect(await client.xlen(keys.eventStream(account))).toBe(98);
  });

  it('applies the accepted events to presence in the same call, and none of a duplicate', async () => {
    const stream = new RowStream(client, keys, 1000);
    const account = 'gc-presence';
    const ev = (visitor: string, id: string): StreamRow => presenceRow(row(0, id), { v: visitor, id });
    const before = await scriptCalls();
    await Promise.all([stream.append(account, [ev('v1', 'e1')], PRESENCE), stream.append(account, [ev('v2', 'e2'), ev('v3', 'e1')], PRESENCE)]);
    expect(await scriptCalls()).toBe(before + 1);
    const online = await client.zrange(`${keys.presencePrefix(account)}:online`, '0', '-1');
    // v3's event was a duplicate of e1: not in the stream, so not in presence either.
    expect(online.sort()).toEqual(['v1', 'v2']);
  });

  it('gives every diff of a call its exact site counts, and the call its peak, as joins and leaves come and go', async () => {
    const stream = new RowStream(client, keys, 1000);
    const account = 'gc-counts';
    const ev = (type: 'pageview' | 'leave', visitor: string, person = ''): StreamRow =>
      presenceRow(row(0), { t: type, v: visitor, pe: person, id: `${visitor}-${type}` });
    const subscriber = connectRedis({ url: redis.url });
    const diffs: { k: string; v: string; c: [number, number] }[] = [];
    subscriber.on('message', (_channel: string, message: string) => {
      for (const line of message.split('\n')) diffs.push(JSON.parse(line) as { k: string; v: string; c: [number, number] });
    });
    // What a gateway with a live client of the account does: mark it watched, then subscribe.
    await client.set(keys.presenceWatched(account), '1', 'PX', 60_000);
    await subscriber.subscribe(keys.presenceChannel(account));
    const noGrace = { ttlMs: 45_000, graceMs: 0 };
    const before = await scriptCalls();
    await Promise.all([
      stream.append(account, [ev('pageview', 'v1'), ev('pageview', 'v2', 'p2')], noGrace),
      stream.append(account, [ev('pageview', 'v3'), ev('leave', 'v2'), ev('pageview', 'v4', 'p4')], noGrace),
    ]);
    expect(await scriptCalls()).toBe(before + 1);
    await eventually(() => diffs.length >= 5 || undefined);
    subscriber.disconnect();
    expect(diffs.filter((d) => d.k === 'join' || d.k === 'leave').map((d) => [d.k, d.v, d.c])).toEqual([
      ['join', 'v1', [1, 0]],
      ['join', 'v2', [2, 1]],
      ['join', 'v3', [3, 1]],
      ['leave', 'v2', [2, 0]],
      ['join', 'v4', [3, 1]],
    ]);
    expect(await client.get(`${keys.presencePrefix(account)}:hwm`)).toBe('3');
  });

  it('builds no diff for an account no gateway watches, yet every change still takes its sequence number', async () => {
    const stream = new RowStream(client, keys, 1000);
    const account = 'gc-unwatched';
    const { heardUpTo, close } = await listen(account);
    const pv = (visitor: string) => presenceRow(row(0), { t: 'pageview', v: visitor, id: `${visitor}-${randomBytes(3).toString('hex')}` });
    // Two joins and their two page views, with the subscriber there but no watched mark.
    await stream.append(account, [pv('u1'), pv('u2')], PRESENCE);
    expect(await heardUpTo()).toEqual([]);
    expect(await client.zcard(`${keys.presencePrefix(account)}:online`)).toBe(2);
    expect(await client.get(keys.presenceSeq(account))).toBe('4');
    // Marked (a gateway's live client arrived): the next changes are published, numbered on.
    await client.set(keys.presenceWatched(account), '1', 'PX', 60_000);
    await stream.append(account, [pv('u1')], PRESENCE);
    const diffs = (await heardUpTo()).map((m) => JSON.parse(m) as { seq: number; k: string; v: string });
    close();
    expect(diffs.map((d) => [d.seq, d.k, d.v])).toEqual([
      [5, 'update', 'u1'],
      [6, 'event', 'u1'],
    ]);
  });

  it('applies an event on the page its tab is on in O(1): no read of the tabs, the same state and diffs as the full path', async () => {
    const stream = new RowStream(client, keys, 1000);
    const account = 'gc-same-page';
    const online = `${keys.presencePrefix(account)}:online`;
    const details = `${keys.presencePrefix(account)}:v:w1`;
    const { heardUpTo, close } = await listen(account);
    const on = (t: 'pageview' | 'click' | 'scroll', p = '/x', lb = '') =>
      presenceRow(row(0), { t, v: 'w1', p, lb, id: `w1-${randomBytes(3).toString('hex')}` });
    const diffs = async () =>
      (await heardUpTo()).map((m) => JSON.parse(m) as { seq: number; k: string; e?: { type: string; label: string }; vis?: { pv: number } });
    const later = () => new Promise((r) => setTimeout(r, 3));
    await client.set(keys.presenceWatched(account), '1', 'PX', 60_000);
    await stream.append(account, [on('pageview')], PRESENCE);
    expect((await diffs()).map((d) => [d.seq, d.k])).toEqual([
      [1, 'join'],
      [2, 'event'],
    ]);
    const joinedAct = Number(await client.zscore(online, 'w1'));

    // A click on the page: its activity and its event diff, and no read of the visitor's tabs.
    await later();
    let tabReads = await commandCalls('hgetall');
    await stream.append(account, [on('click', '/x', 'Book a viewing')], PRESENCE);
    expect((await diffs()).map((d) => [d.seq, d.k, d.e?.type, d.e?.label])).toEqual([[3, 'event', 'click', 'Book a viewing']]);
    expect(Number(await client.zscore(online, 'w1'))).toBeGreaterThan(joinedAct);
    expect(await client.hget(details, 'pv')).toBe('1');
    expect(await commandCalls('hgetall')).toBe(tabReads);

    // A reload while nobody watches: its page view counts, and its two diffs take their numbers.
    await client.del(keys.presenceWatched(account));
    await stream.append(account, [on('pageview')], PRESENCE);
    expect(await diffs()).toEqual([]);
    expect(await client.hget(details, 'pv')).toBe('2');
    expect(await client.get(keys.presenceSeq(account))).toBe('5');
    expect(await commandCalls('hgetall')).toBe(tabReads);

    // Watched, a page view's update carries the whole view; a scroll on another page moves pages:
    // both take the full path.
    await client.set(keys.presenceWatched(account), '1', 'PX', 60_000);
    tabReads = await commandCalls('hgetall');
    await stream.append(account, [on('pageview')], PRESENCE);
    await stream.append(account, [on('scroll', '/y')], PRESENCE);
    const full = await diffs();
    close();
    expect(full.map((d) => [d.seq, d.k, d.vis?.pv])).toEqual([
      [6, 'update', 3],
      [7, 'event', undefined],
      [8, 'update', 3],
      [9, 'event', undefined],
    ]);
    expect(await commandCalls('hgetall')).toBe(tabReads + 2);
    expect(await client.zrange(`${keys.presencePrefix(account)}:pages`, '0', '-1')).toEqual(['/y']);
  });

  it.each([
    { inFlight: 1, calls: 2 },
    { inFlight: 2, calls: 3 },
  ])('gathers the requests of every tick that passes while $inFlight call(s) are in flight into the next call', async ({ inFlight, calls }) => {
    const stream = new RowStream(client, keys, 1000, { maxInFlight: inFlight });
    const account = `gc-gather-${inFlight}`;
    const before = await scriptCalls();
    const busy = holdRedis(redis.url, 300);
    await new Promise((r) => setTimeout(r, 30));
    const first = stream.append(account, [row(1, 'g-1')]);
    const later: Promise<unknown>[] = [];
    for (let tick = 0; tick < 5; tick++) {
      await new Promise((r) => setImmediate(r));
      // The last is a retry of the first request: the calls run in the order they were made.
      later.push(stream.append(account, [row(10 + tick, tick === 4 ? 'g-1' : undefined)]));
    }
    const outcomes = await Promise.all([first, ...later]);
    await busy;
    expect(await scriptCalls()).toBe(before + 1 + calls);
    expect(outcomes.flat()).toEqual(['accepted', 'accepted', 'accepted', 'accepted', 'accepted', 'duplicate']);
    const entries = (await client.xrange(keys.eventStream(account), '-', '+')) as [string, string[]][];
    expect(entries.map(([, f]) => JSON.parse(f[3]!).n)).toEqual([1, 10, 11, 12, 13]);
  });

  it('refuses a request at once while the oldest waiting call has waited past maxQueueMs, writing none of it', async () => {
    const stream = new RowStream(client, keys, 1000, { maxInFlight: 1, maxQueueMs: 100 });
    const account = 'gc-queue';
    const busy = holdRedis(redis.url, 400);
    await new Promise((r) => setTimeout(r, 30));
    const inFlight = stream.append(account, [row(1)]);
    await new Promise((r) => setImmediate(r));
    const waiting = stream.append(account, [row(2)]);
    // Within the bound, a request still joins the waiting call.
    const joined = stream.append(account, [row(3)]);
    await new Promise((r) => setTimeout(r, 150));
    const t0 = Date.now();
    const refused = await stream.append(account, [row(4), row(5)]).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(50);
    expect(refused).toBeInstanceOf(CommitQueueFullError);
    expect(refused).toBeInstanceOf(BackpressureError);
    expect((refused as CommitQueueFullError).retryAfterS).toBe(1);
    expect(await Promise.all([inFlight, waiting, joined])).toEqual([['accepted'], ['accepted'], ['accepted']]);
    await busy;
    // Caught up: the queue is empty and requests are taken again.
    expect(await stream.append(account, [row(6)])).toEqual(['accepted']);
    const entries = (await client.xrange(keys.eventStream(account), '-', '+')) as [string, string[]][];
    expect(entries.map(([, f]) => JSON.parse(f[3]!).n)).toEqual([1, 2, 3, 6]);
  });

  it('closes a call at its row bound: a full call goes without waiting for the tick', async () => {
    const stream = new RowStream(client, keys, 1000, { maxRows: 4 });
    const account = 'gc-bound';
    const before = await scriptCalls();
    const out = await Promise.all(Array.from({ length: 5 }, (_, i) => stream.append(account, [row(i), row(i + 10)])));
    expect(out.flat().every((o) => o === 'accepted')).toBe(true);
    expect(await scriptCalls()).toBe(before + 3);
    expect(await client.xlen(keys.eventStream(account))).toBe(10);
  });

  it('rejects every request of a call that Redis could not run, and serves the next call', async () => {
    const down = connectRedis({ url: redis.url, failFast: true });
    await redisReady(down);
    const stream = new RowStream(down, keys, 1000);
    down.disconnect();
    const results = await Promise.allSettled([stream.append('gc-down', [row(1)]), stream.append('gc-down', [row(2)])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const again = new RowStream(client, keys, 1000);
    expect(await again.append('gc-down', [row(3)])).toEqual(['accepted']);
  });
});
