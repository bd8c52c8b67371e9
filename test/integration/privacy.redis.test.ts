import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, type RedisClient } from '../../src/adapters/redis/client.js';
import { RedisKeys } from '../../src/adapters/redis/keys.js';
import { IpHasher } from '../../src/adapters/redis/ip-salt.js';
import { callScript } from '../../src/adapters/redis/scripts.js';
import { startTestRedis, type TestRedis } from '../support/services.js';

let redis: TestRedis;
let client: RedisClient;
beforeAll(async () => {
  redis = await startTestRedis();
  client = connectRedis({ url: redis.url });
});
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

const DAY = 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const sinceMidnight = (ms: number) => ms - Date.parse(`${day(ms)}T00:00:00Z`);

describe('daily IP salt', () => {
  it('expires a day’s salt at the next midnight plus the grace window', async () => {
    const keys = new RedisKeys(`t${randomBytes(4).toString('hex')}`);
    const now = Date.now();
    const h = new IpHasher(client, keys, { graceMs: 600_000 });
    const a = await h.hash('203.0.113.7', now);
    expect(await new IpHasher(client, keys).hash('203.0.113.7', now)).toBe(a);
    const expiry = await client.pexpiretime(keys.ipSalt(day(now)));
    expect(expiry).toBe(Date.parse(`${day(now)}T00:00:00Z`) + DAY + 600_000);
  });

  it('deletes the past day’s salt at rotation, and never makes it again for a late request', async () => {
    const keys = new RedisKeys(`t${randomBytes(4).toString('hex')}`);
    const now = Date.now();
    const yesterday = day(now - DAY);
    // As an earlier release left it: kept for two days.
    await client.set(keys.ipSalt(yesterday), 'old-salt', 'EX', 2 * 86_400);
    // The grace window is over (it ended just before now).
    const h = new IpHasher(client, keys, { graceMs: Math.max(0, sinceMidnight(now) - 1000) });
    const today = await h.hash('203.0.113.7', now);
    expect(await client.exists(keys.ipSalt(yesterday))).toBe(0);
    // A gateway whose clock still says yesterday: hashed with today's salt, yesterday's stays gone.
    const late = await new IpHasher(client, keys, { graceMs: Math.max(0, sinceMidnight(now) - 1000) }).hash('203.0.113.7', now - sinceMidnight(now) - 1000);
    expect(late).toBe(today);
    expect(await client.exists(keys.ipSalt(yesterday))).toBe(0);
  });

  it('keeps the past day’s salt through the grace window for a clock that lags', async () => {
    const keys = new RedisKeys(`t${randomBytes(4).toString('hex')}`);
    const now = Date.now();
    const graceMs = sinceMidnight(now) + 60_000;
    const lastSecondOfYesterday = now - sinceMidnight(now) - 1000;
    const lagging = new IpHasher(client, keys, { graceMs });
    const late = await lagging.hash('203.0.113.7', lastSecondOfYesterday);
    const today = await new IpHasher(client, keys, { graceMs }).hash('203.0.113.7', now);
    expect(late).not.toBe(today);
    // Another gateway, same late second: the same salt, so the hashes still compare.
    expect(await new IpHasher(client, keys, { graceMs }).hash('203.0.113.7', lastSecondOfYesterday)).toBe(late);
    const ttl = await client.pttl(keys.ipSalt(day(lastSecondOfYesterday)));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });
});

describe('stream rebuild after an erasure sweep', () => {
  it('drops the bytes of deleted entries and keeps entries, groups, consumers and pending entries', async () => {
    const stream = `t${randomBytes(4).toString('hex')}:{acct}:events`;
    const secret = `gone-${randomBytes(8).toString('hex')}`;
    // DUMP writes the stream's listpacks as they are; uncompressed, a byte search reads them.
    await client.config('SET', 'rdbcompression', 'no');
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await client.xadd(stream, '*', 'r', i === 2 ? `{"visitor_id":"${secret}"}` : `{"n":${i}}`))!);
    await client.xgroup('CREATE', stream, 'flush', '0');
    // c1 read four (two of them acknowledged), c2 none yet.
    await client.xreadgroup('GROUP', 'flush', 'c1', 'COUNT', '4', 'STREAMS', stream, '>');
    await client.xack(stream, 'flush', ids[0]!, ids[1]!);
    await client.xgroup('CREATECONSUMER', stream, 'flush', 'c2');
    await client.xack(stream, 'flush', ids[2]!);
    await client.xdel(stream, ids[2]!);
    // XDEL only flags the entry: its bytes are still in the stream's serialised form.
    expect((await client.dumpBuffer(stream))!.includes(secret)).toBe(true);
    const obj = (flat: unknown[]) => Object.fromEntries(flat.flatMap((v, i) => (i % 2 ? [] : [[String(v), flat[i + 1]]])));
    const pick = (o: Record<string, unknown>, keep: string[]) => Object.fromEntries(keep.map((k) => [k, o[k]]));
    const snap = async () => ({
      entries: await client.xrange(stream, '-', '+'),
      pending: ((await client.xpending(stream, 'flush', '-', '+', 100)) as [string, string, number, number][]).map(([id, c, , n]) => [id, c, n]),
      groups: ((await client.xinfo('GROUPS', stream)) as unknown[][]).map((g) =>
        pick(obj(g), ['name', 'consumers', 'pending', 'last-delivered-id', 'entries-read']),
      ),
      consumers: ((await client.xinfo('CONSUMERS', stream, 'flush')) as unknown[][]).map((c) => pick(obj(c), ['name', 'pending'])),
      info: pick(obj((await client.xinfo('STREAM', stream)) as unknown[]), ['length', 'last-generated-id', 'max-deleted-entry-id', 'entries-added']),
    });
    const before = await snap();
    expect(await callScript(client, 'streamCompact', [stream], [1000])).toBe(5);
    expect((await client.dumpBuffer(stream))!.includes(secret)).toBe(false);
    expect(await snap()).toEqual(before);
    // Delivery goes on where it was: c1's unacknowledged entry is still pending, new ones come next.
    const more = await client.xadd(stream, '*', 'r', '{"n":6}');
    const read = (await client.xreadgroup('GROUP', 'flush', 'c2', 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
    expect(read[0]![1].map(([id]) => id)).toEqual([ids[4], ids[5], more]);
    expect(await callScript(client, 'streamCompact', [stream], [2])).toBe(-1);
    expect(await callScript(client, 'streamCompact', [`${stream}:none`], [2])).toBe(0);
  });
});
