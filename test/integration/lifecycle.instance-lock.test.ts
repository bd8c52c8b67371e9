/**
 * One instance per DATA_DIR. Instance A is a real process with its own Redis and chdb. A second
 * start B on the same DATA_DIR exits non-zero naming A (pid, gateway) and touches nothing: A's
 * redis-server is the same process, A's lock record is unchanged, A keeps serving and flushing.
 * After kill -9 of A nothing stale is left to refuse a new start: it takes the lock, stops the
 * redis-server A left behind, and finds what A had stored.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/domain/account.js';
import { alive } from '../../src/adapters/redis/launcher.js';
import { useFixture } from '../support/fixture.js';
import { startInstanceProcess, type ServiceProcess } from '../support/processes.js';
import { beacon, eventually, postEvent } from '../support/services.js';

let dataDir: string;
let env: Record<string, string>;
const adminKey = randomBytes(18).toString('base64url');
const account = `acct-${randomBytes(3).toString('hex')}`;
const running: ServiceProcess[] = [];

const redisPid = () => Number(readFileSync(path.join(dataDir, 'redis', 'redis.pid'), 'utf8'));

async function start(name: string, over: Record<string, string> = {}): Promise<ServiceProcess> {
  const p = await startInstanceProcess({ env: { ...env, ...over }, logFile: path.join(dataDir, `${name}.log`) });
  running.push(fx.track(p));
  return p;
}

/** Wait until the admin API (reading ClickHouse) shows the event in its session. */
async function seeStored(url: string, sessionId: string, eventId: string): Promise<void> {
  await eventually(
    async () => {
      const res = await fetch(`${url}/api/sessions/${sessionId}`, { headers: { authorization: `Bearer ${adminKey}` } });
      if (res.status !== 200) return false;
      const body = (await res.json()) as { timeline: { eventId: string }[] };
      return body.timeline.some((e) => e.eventId === eventId);
    },
    30_000,
    200,
  );
}

/** Post one event and wait until it is stored; returns its session and event ids. */
async function postAndSeeStored(url: string): Promise<[string, string]> {
  const sessionId = `s-${randomBytes(4).toString('hex')}`;
  const eventId = randomUUID();
  expect((await postEvent(url, beacon(account, { sessionId, eventId }))).status).toBe(204);
  await seeStored(url, sessionId, eventId);
  return [sessionId, eventId];
}

let storedByA: [string, string] | undefined;

const fx = useFixture();

beforeAll(async () => {
  dataDir = fx.trackDir(await mkdtemp(path.join(os.tmpdir(), 'visitor-lock-')));
  const accountsFile = path.join(dataDir, 'accounts.json');
  await writeFile(
    accountsFile,
    JSON.stringify({
      accounts: [{ id: account, origins: ['http://127.0.0.1:*'], adminKeySha256: [sha256Hex(adminKey)], listingUrl: 'https://x.example/{slug}' }],
    }),
  );
  env = { DATA_DIR: dataDir, ACCOUNTS_FILE: accountsFile, PORT: '0', HOST: '127.0.0.1', STORE_PORT: '0', FLUSH_INTERVAL_MS: '100', LOG_LEVEL: 'info' };
});

describe('one instance per DATA_DIR', () => {
  it('refuses a second start, naming the running instance, and leaves it serving and flushing', async () => {
    const a = await start('a');
    const redisOfA = redisPid();
    const lockOfA = readFileSync(path.join(dataDir, 'instance.lock'), 'utf8');
    expect(JSON.parse(lockOfA)).toMatchObject({ pid: a.pid, gateway: a.url });

    const refused = await start('b').then(
      () => undefined,
      (err: Error) => err.message,
    );
    expect(refused).toMatch(/exited with 1 during start/);
    expect(refused).toContain(`start-up refused: DATA_DIR ${dataDir} is in use by a running instance (pid ${a.pid}`);
    expect(refused).toContain(`gateway ${a.url}`);
    // B started nothing and changed nothing of A.
    expect(readFileSync(path.join(dataDir, 'b.log'), 'utf8')).not.toContain('[redis] started local redis-server');
    expect(redisPid()).toBe(redisOfA);
    expect(alive(redisOfA)).toBe(true);
    expect(readFileSync(path.join(dataDir, 'instance.lock'), 'utf8')).toBe(lockOfA);

    storedByA = await postAndSeeStored(a.url!);
    expect((await fetch(`${a.url}/readyz`)).status).toBe(200);
  });

  it('after kill -9 of the instance a new start takes over and stops the redis-server it left', async () => {
    const a = running[0]!;
    const orphan = redisPid();
    await a.crash();
    // kill -9 of the service leaves its redis-server running on the data dir.
    expect(alive(orphan)).toBe(true);

    const c = await start('c');
    expect(alive(orphan)).toBe(false);
    expect(redisPid()).not.toBe(orphan);
    expect(c.messages()).toContain('[redis] stopping a redis-server left running on this data dir by a launcher that died');
    await seeStored(c.url!, ...storedByA!);
    await postAndSeeStored(c.url!);
  });
});
