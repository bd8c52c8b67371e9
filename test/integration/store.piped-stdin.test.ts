/**
 * chdb's engine takes a piped stdin for the data of an INSERT that carries its rows with it
 * (inline after FORMAT, or chdb's raw insert): it refuses them ("both inlined and external
 * data") or takes stdin's bytes as rows. Under a supervisor or a shell pipe the service's stdin
 * is such a pipe; the staged inserts (chdb-insert.ts) never read it. Tried here with bytes that
 * look like a row waiting in the pipe: the store alone (a client's INSERT over its port) and
 * every role in one process (the worker's flush into the embedded engine). (With raw inserts and
 * stdin left attached, both fail.)
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createClient } from '@clickhouse/client';
import { beacon, eventually, postEvent, randomId, rows } from '../support/services.js';
import { useFixture } from '../support/fixture.js';
import { startInstanceProcess, type ServiceProcess } from '../support/processes.js';

const fx = useFixture();
const STDIN_ROW = `${JSON.stringify({ account_id: 'from-stdin', event_id: randomUUID(), type: 'pageview' })}\n`;

/** One process with these roles, its stdin a pipe holding a row; the ClickHouse client of its store. */
async function startPiped(roles: string) {
  const testRedis = await fx.redis();
  const dataDir = fx.trackDir(await mkdtemp(path.join(os.tmpdir(), 'visitor-piped-stdin-')));
  const database = `t_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const proc: ServiceProcess = fx.track(
    await startInstanceProcess({
      env: {
        DATA_DIR: dataDir,
        REDIS_URL: testRedis.url,
        REDIS_PREFIX: randomId('p').replace('-', ''),
        CLICKHOUSE_DATABASE: database,
        ROLES: roles,
        PORT: '0',
        HOST: '127.0.0.1',
        STORE_PORT: '0',
        LOG_LEVEL: 'info',
        FLUSH_INTERVAL_MS: '100',
      },
      logFile: path.join(dataDir, 'service.log'),
      stdin: 'pipe',
    }),
  );
  // EPIPE when the service has already let go of its stdin (what it should do): not a failure.
  proc.child.stdin!.on('error', () => undefined);
  proc.child.stdin!.write(STDIN_ROW);
  const ch = createClient({ url: proc.storeUrl!, database });
  fx.track(() => ch.close());
  const stored = async () => rows<{ account: string; id: string }>(ch, 'SELECT account_id AS account, toString(event_id) AS id FROM events ORDER BY account');
  return { proc, ch, stored };
}

describe('chdb under a piped stdin', () => {
  it('the store alone takes a client INSERT over its port, and nothing from stdin', async () => {
    const { proc, ch, stored } = await startPiped('store');
    const id = randomUUID();
    await ch.insert({ table: 'events', values: [{ account_id: 'over-http', event_id: id, type: 'pageview' }], format: 'JSONEachRow' });
    expect(await stored()).toEqual([{ account: 'over-http', id }]);
    expect(await proc.stop()).toBe(0);
  });

  it('every role in one process flushes an accepted event into the embedded engine, and nothing from stdin', async () => {
    const { proc, stored } = await startPiped('gateway,store,worker');
    const id = randomUUID();
    expect((await postEvent(proc.url!, beacon('demo', { eventId: id }))).status).toBe(204);
    await eventually(async () => ((await stored()).length ? true : undefined), 20_000);
    await eventually(() => proc.messages().some((m) => m.startsWith('[flush] rows=')) || undefined);
    expect(await stored()).toEqual([{ account: 'demo', id }]);
    expect(proc.messages().some((m) => m.startsWith('[flush] insert failed'))).toBe(false);
    expect(await proc.stop()).toBe(0);
  });
});
