/**
 * The service on Redis Cluster: a local 3-master cluster of redis-server processes, accounts
 * whose hash tags fall on three different masters. Events are ingested and flushed exactly
 * once, the multi-key Lua scripts run (every key of a call shares the account's hash tag), and
 * no per-account key escapes its tag.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { BROWSER_UA, beacon, eventually, postEvent, rows } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { startRedisCluster, type RedisClusterNodes } from '../support/processes.js';

/** Redis Cluster's key slot: CRC16/XMODEM of the hash tag (or the key) mod 16384. */
function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const tagged = open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(tagged)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/** `redis-cli --cluster create` splits the slots evenly: master i serves range i. */
const masterOf = (slot: number) => Math.min(2, Math.floor(slot / (16384 / 3)));

let cluster: RedisClusterNodes;
let accounts: string[];

const t = useTestService(async (fx) => {
  cluster = fx.track(await startRedisCluster(3));
  const byMaster = new Map<number, string>();
  for (let i = 0; byMaster.size < 3; i++) {
    const id = `c${i}-${randomBytes(2).toString('hex')}`;
    const m = masterOf(keySlot(`x:{${id}}:events`));
    if (!byMaster.has(m)) byMaster.set(m, id);
  }
  accounts = [...byMaster.values()];
  return { accounts, env: { REDIS_CLUSTER_NODES: cluster.nodes.join(',') } };
}, 90_000);

describe('scale-out: Redis Cluster', () => {
  it('ingests and flushes every event exactly once for accounts on three masters', async () => {
    const redis = t.service.redis as Cluster;
    expect(redis.isCluster).toBe(true);
    // The slots computed here are the ones Redis uses, and the three streams sit on three masters.
    const streams = accounts.map((a) => t.service.keys.eventStream(a));
    for (const s of streams) expect(Number(await redis.cluster('KEYSLOT', s))).toBe(keySlot(s));
    expect(new Set(streams.map((s) => masterOf(keySlot(s)))).size).toBe(3);

    const accepted = new Map<string, string[]>();
    for (const a of accounts) {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const e = beacon(a, { eventId: randomUUID() });
        expect((await postEvent(t.url, e)).status).toBe(204);
        ids.push(String(e.eventId));
      }
      for (let b = 0; b < 2; b++) {
        const events = Array.from({ length: 20 }, () => beacon(a, { eventId: randomUUID(), type: 'heartbeat' }));
        expect((await postEvent(t.url, { events })).status).toBe(204);
        ids.push(...events.map((e) => String(e.eventId)));
      }
      // A client retry of an accepted event id: accepted again, stored once (the de-dup marker
      // is a second key of the same script call, on the same slot as the stream).
      expect((await postEvent(t.url, beacon(a, { eventId: ids[0] }))).status).toBe(204);
      const pixelId = randomUUID();
      const px = await fetch(`${t.url}/p.gif?account=${a}&type=pageview&s=s-px&v=v-px&p=/px&eventId=${pixelId}`, { headers: { 'user-agent': BROWSER_UA } });
      expect(px.status).toBe(200);
      ids.push(pixelId);
      accepted.set(a, ids);
    }

    await eventually(
      async () => {
        const n = await rows<{ n: string }>(t.ch, 'SELECT count() AS n FROM events WHERE account_id IN {a:Array(String)}', { a: accounts });
        return Number(n[0]!.n) >= accounts.length * 46;
      },
      30_000,
      200,
    );
    for (const a of accounts) {
      const got = await rows<{ id: string; n: string }>(
        t.ch,
        'SELECT toString(event_id) AS id, count() AS n FROM events WHERE account_id = {a:String} GROUP BY id',
        { a },
      );
      expect(got.filter((r) => Number(r.n) !== 1)).toEqual([]);
      expect(got.map((r) => r.id).sort()).toEqual([...accepted.get(a)!].sort());
    }
    await eventually(async () => (await Promise.all(streams.map((s) => redis.xlen(s)))).every((n) => n === 0), 10_000, 200);
  });

  it('runs the presence scripts on the cluster: heartbeats make visitors online', async () => {
    for (const a of accounts) {
      const res = await fetch(`${t.url}/api/online`, { headers: { authorization: `Bearer ${t.accounts.find((x) => x.id === a)!.adminKey}` } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { online: number };
      // 40 heartbeats from 40 visitors, 5 page views and one pixel from 6 more.
      expect(body.online).toBe(46);
    }
  });

  it('keeps every per-account key inside its account hash tag', async () => {
    const redis = t.service.redis as Cluster;
    const keys: string[] = [];
    for (const node of redis.nodes('master')) {
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', `${t.service.keys.prefix}:*`, 'COUNT', 1000);
        keys.push(...batch);
        cursor = next;
      } while (cursor !== '0');
    }
    expect(keys.length).toBeGreaterThan(10);
    const untagged = keys.filter((k) => !/\{[^}]+\}/.test(k));
    // Only single-key globals may live outside a tag (the daily IP salt, the sweeper lease).
    for (const k of untagged) expect(k, k).toMatch(/:(ipsalt:\d{4}-\d{2}-\d{2}|presence:sweeper-lease)$/);
    for (const a of accounts) {
      const own = keys.filter((k) => k.includes(`{${a}}`));
      expect(own.length).toBeGreaterThan(2);
      expect(new Set(own.map(keySlot)).size).toBe(1);
    }
  });
});
