/**
 * What presence writes a replica (and so the append-only file, fed by the same stream of
 * effects) receives: every change of what is online, never the mere refresh of a time or a
 * page-view count. A real redis-server replicates from the test's Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, redisReady, type RedisClient } from '../../src/adapters/redis/client.js';
import { RedisKeys } from '../../src/adapters/redis/keys.js';
import { PresenceStore } from '../../src/adapters/redis/presence.store.js';
import { freePort } from '../../src/adapters/redis/launcher.js';
import { RowStream, type StreamRow } from '../../src/adapters/redis/row-stream.js';
import { presenceRow } from '../support/presence-rows.js';
import { eventually, startTestRedis, type TestRedis } from '../support/services.js';

const PRESENCE = { ttlMs: 45_000, graceMs: 3000 };
const ACCOUNT = 'repl';

let primary: TestRedis;
let client: RedisClient;
let replica: RedisClient;
let replicaProcess: ChildProcess;
let replicaDir: string;
let keys: RedisKeys;

beforeAll(async () => {
  primary = await startTestRedis();
  client = connectRedis({ url: primary.url });
  await redisReady(client);
  const url = new URL(primary.url);
  replicaDir = await mkdtemp(path.join(os.tmpdir(), 'visitor-test-replica-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', replicaDir, '--save', '', '--appendonly', 'no', '--replicaof', url.hostname, url.port];
  if (url.password) args.push('--masterauth', decodeURIComponent(url.password));
  replicaProcess = spawn('redis-server', args, { stdio: 'ignore' });
  replica = connectRedis({ url: `redis://127.0.0.1:${port}` });
  await redisReady(replica);
  await eventually(async () => /master_link_status:up/.test(String(await replica.info('replication'))), 20_000);
  keys = new RedisKeys(`rp${randomBytes(3).toString('hex')}`);
}, 30_000);

afterAll(async () => {
  replica?.disconnect();
  client?.disconnect();
  replicaProcess?.kill();
  await primary?.stop();
  if (replicaDir) await rm(replicaDir, { recursive: true, force: true });
});

let n = 0;
function event(type: 'pageview' | 'heartbeat', page: string, visitor = 'v1'): StreamRow {
  const id = `e-${++n}`;
  return presenceRow({ table: 'events', row: { n }, dedupeId: id }, { t: type, v: visitor, p: page, ti: 'Title', id });
}

/** What both sides hold of the visitor: the refreshed values and the structure. */
async function state(r: RedisClient) {
  const p = keys.presencePrefix(ACCOUNT);
  return {
    rows: await r.xlen(keys.eventStream(ACCOUNT)),
    deadline: Number(await r.zscore(`${p}:tabs`, 'v1|v1-s')),
    seen: Number(await r.hget(`${p}:v:v1`, 'seen')),
    pageViews: Number(await r.hget(`${p}:v:v1`, 'pv')),
    path: await r.hget(`${p}:v:v1`, 'path'),
    online: await r.zrange(`${p}:online`, '0', '-1'),
    pages: await r.zrange(`${p}:pages`, '0', '-1', 'WITHSCORES'),
  };
}

/** Every write so far has reached the replica (the rows of each call are replicated). */
async function synced(): Promise<void> {
  expect(Number(await client.call('WAIT', '1', '5000'))).toBe(1);
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('presence writes and replication', () => {
  it('replicates every change of what is online and the rows, never a refresh of times or page views', async () => {
    const stream = new RowStream(client, keys, 1000);
    await stream.append(ACCOUNT, [event('pageview', '/a')], PRESENCE);
    await synced();
    const joined = await state(replica);
    expect(joined).toEqual(await state(client));
    expect(joined).toMatchObject({ rows: 1, pageViews: 1, path: '/a', online: ['v1'], pages: ['/a', '1'] });

    // Still on /a: a heartbeat and a page view move the deadline, the times and the page views only.
    await tick();
    await stream.append(ACCOUNT, [event('heartbeat', '/a')], PRESENCE);
    await tick();
    await stream.append(ACCOUNT, [event('pageview', '/a')], PRESENCE);
    await synced();
    const [live, copy] = [await state(client), await state(replica)];
    expect(live.deadline).toBeGreaterThan(joined.deadline);
    expect(live.seen).toBeGreaterThan(joined.seen);
    expect(live.pageViews).toBe(2);
    expect(copy).toEqual({ ...joined, rows: 3 });

    // A move to /b changes what is online: replicated, the page views and times with it (the
    // tab's deadline is still only a refresh).
    await tick();
    await stream.append(ACCOUNT, [event('pageview', '/b')], PRESENCE);
    await synced();
    const moved = await state(replica);
    expect({ ...moved, deadline: 0 }).toEqual({ ...(await state(client)), deadline: 0 });
    expect(moved).toMatchObject({ rows: 4, pageViews: 3, path: '/b', online: ['v1'], pages: ['/b', '1'], deadline: joined.deadline });
  });

  it('leaves a promoted replica whole: past the replicated deadline its sweeper ends the visitor and every count returns to zero', async () => {
    const stream = new RowStream(client, keys, 1000);
    const account = 'repl-failover';
    const short = { ttlMs: 400, graceMs: 0 };
    await stream.append(account, [event('pageview', '/c', 'v2')], short);
    // The visitor stays online on the primary; the replica only ever saw the join.
    for (let i = 0; i < 12; i++) {
      await new Promise((r) => setTimeout(r, 50));
      await stream.append(account, [event('heartbeat', '/c', 'v2')], short);
    }
    await synced();
    const p = keys.presencePrefix(account);
    expect(await client.zrange(`${p}:online`, '0', '-1')).toEqual(['v2']);
    await replica.call('REPLICAOF', 'NO', 'ONE');
    expect(await new PresenceStore(replica, keys).sweep(account)).toEqual({ tabs: 1, leaves: 1 });
    expect(await replica.zrange(`${p}:online`, '0', '-1')).toEqual([]);
    expect(await replica.zrange(`${p}:pages`, '0', '-1')).toEqual([]);
    expect(await replica.zcard(`${p}:tabs`)).toBe(0);
    expect(await replica.exists(`${p}:v:v2`, `${p}:vt:v2`, `${p}:page:/c`)).toBe(0);
  });
});
