import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/adapters/redis/keys.js';
import { beacon, eventually, postEvent, rows } from '../support/services.js';
import { serviceTurns, useFixture, useTestRedis } from '../support/fixture.js';
import { cliAgainst } from '../support/cli.js';
import { adminApi, jobDone, jobStatus } from '../support/jobs.js';

const fx = useFixture();
const shared = useTestRedis(fx);
const turns = serviceTurns(fx);

describe('backfill from logs', () => {
  it('writes exactly the lines of the window once, survives a restart before pickup, and gives the hand-computed CTR', async () => {
    const accountIds = [`acme-${Date.now().toString(36)}`, 'other-acct'];
    const at = (min: number) => new Date(Math.floor(Date.now() / 60_000) * 60_000 - 2 * 3600_000 + min * 60_000);
    const iso = (min: number) => at(min).toISOString();
    const from = iso(0);
    const to = iso(60);

    // A live click already recorded (and flushed) for (s4, l1, r4), 2 s before the logged one:
    // that log line is the same click and is not written again.
    const first = await turns.start({ redisUrl: shared.redis.url, env: { ROLES: 'gateway,worker', JOB_BACKOFF_MS: '100' }, accounts: accountIds });
    const live = beacon(accountIds[0]!, {
      type: 'click',
      sessionId: 's4',
      visitorId: 'v-live',
      path: '/listings/l1',
      listing: 'l1',
      rec: 'r4',
      label: 'recommendation',
      ts: at(30).getTime() - 2000,
    });
    expect((await postEvent(first.url, live)).status).toBe(204);
    await eventually(async () => (await rows(first.ch, `SELECT 1 FROM events WHERE visitor_id = 'v-live'`)).length === 1);
    await turns.stop();

    // Gateway only: the job waits in Redis until a worker starts.
    const gw = await turns.start({ reuse: first, env: { ROLES: 'gateway' } });
    const A = gw.accounts[0]!;
    const B = gw.accounts[1]!;

    // An erased person's lines must not come back.
    const keys = new RedisKeys(gw.config.REDIS_PREFIX);
    await shared.client.hset(keys.erasedPersons(A.id), gw.service.ids.mark(A.id, 'person', 'p-gone'), String(Date.now()));

    const log = [
      `${iso(-5)} [property-recommended] account=${A.id} session=s1 listing=l1 rec=r0`, // before window
      `${iso(1)} [property-recommended] account=${A.id} session=s1 listing=l1 rec=r1 person=p-1`,
      `${iso(2)} [property-recommended] account=${A.id} session=s2 listing=l1 rec=r2`,
      `${iso(3)} INFO reco [property-recommended] rec=r1 listing=l2 session=s1 account=${A.id} person=p-1 model=v7`,
      `${iso(4)} [property-recommended] account=${A.id} session=s3 listing=l2 rec=r3`,
      `${iso(5)} [property-recommended] account=${A.id} session=s4 listing=l1 rec=r4`,
      `${iso(6)} [property-recommended] account=${A.id} session=s1 listing=l1 rec=r1 person=p-1`, // same key again: present
      `${iso(7)} [property-recommended] account=${A.id} session=s9 listing=l3 rec=r9 person=p-gone`, // erased person
      `${iso(10)} [property-card-click] account=${A.id} session=s1 listing=l1 rec=r1 person=p-1`,
      `${iso(11)} [property-card-click] account=${A.id} session=s1 listing=l2 rec=r1`,
      `${iso(12)} [property-card-click] listing=l2 rec=r3 session=s3 account=${A.id}`,
      `${iso(30)} [property-card-click] account=${A.id} session=s4 listing=l1 rec=r4`, // matches the live click
      `${iso(20)} [property-card-click] account=${A.id} session=s1 listing=l1`, // invalid: no rec
      `${iso(21)} [property-card-click] account=${B.id} session=s1 listing=l1 rec=r1`, // invalid: other account
      `[property-card-click] account=${A.id} session=s1 listing=l1 rec=r1`, // invalid: no time
      // Invalid: ids that every other route refuses (the same schemas decide).
      `${iso(23)} [property-recommended] account=${A.id} session={x:String} listing=l1 rec=r1`,
      `${iso(24)} [property-card-click] account=${A.id} session=s1 listing=../../x rec=r1`,
      `${iso(25)} [property-recommended] account=${A.id} session=s1 listing=l1 rec=r1 person=../../p`,
      `${iso(22)} GET /healthz 200`, // ignored
      `some stack trace line`, // ignored
      `${iso(60)} [property-card-click] account=${A.id} session=s1 listing=l1 rec=r1`, // at `to`: outside
    ].join('\n');

    // Bad requests are refused with a clear 4xx.
    expect((await fetch(`${gw.url}/api/backfill`, { method: 'POST', body: '{}' })).status).toBe(401);
    expect((await adminApi(gw, A.adminKey, 'POST', '/api/backfill', { logs: '' })).status).toBe(400);
    expect((await adminApi(gw, A.adminKey, 'POST', '/api/backfill', { logs: 'x', from: 'yesterday' })).status).toBe(400);
    expect((await adminApi(gw, A.adminKey, 'POST', '/api/backfill', { logs: 'x', from: to, to: from })).status).toBe(400);

    const res = await adminApi(gw, A.adminKey, 'POST', '/api/backfill', { logs: log, from, to });
    expect(res.status).toBe(202);
    const { jobId } = (await res.json()) as { jobId: string };
    expect((await jobStatus(gw, A.adminKey, jobId)).state).toBe('waiting');
    // Another account's key cannot see the job.
    expect((await adminApi(gw, B.adminKey, 'GET', `/api/jobs/${jobId}`)).status).toBe(404);
    await turns.stop();

    const t = await turns.start({ reuse: gw, env: { ROLES: 'gateway,worker' } });
    const done = await jobDone(t, A.adminKey, jobId);
    expect(done.progress).toBe(100);
    expect(done.result).toMatchObject({
      recWritten: 5,
      clickWritten: 3,
      skipped: 5,
      invalid: 6,
      skippedReasons: { window: 2, present: 2, erased: 1 },
      invalidReasons: { timestamp: 1, 'missing-key': 1, 'bad-value': 3, 'other-account': 1 },
      ignored: 2,
    });
    expect(t.messages().some((m) => m.startsWith(`[backfill] account=${A.id} recWritten=5 clickWritten=3 skipped=5 invalid=6`))).toBe(true);

    // Rows as written: recommendations with source backfill, clicks as events with a derived id.
    const recs = await rows<{ k: string; person_id: string; visitor_id: string }>(
      t.ch,
      `SELECT concat(session_id, '/', listing, '/', rec_id) AS k, person_id, visitor_id FROM recommendations FINAL WHERE account_id = {a:String} AND source = 'backfill' ORDER BY k`,
      { a: A.id },
    );
    expect(recs.map((r) => r.k)).toEqual(['s1/l1/r1', 's1/l2/r1', 's2/l1/r2', 's3/l2/r3', 's4/l1/r4']);
    expect(recs.find((r) => r.k === 's1/l1/r1')).toMatchObject({ person_id: 'p-1', visitor_id: '' });
    expect(await rows(t.ch, `SELECT 1 FROM events WHERE account_id = {a:String} AND person_id = 'p-gone'`, { a: A.id })).toEqual([]);
    expect(await rows(t.ch, `SELECT 1 FROM recommendations WHERE account_id = {a:String} AND person_id = 'p-gone'`, { a: A.id })).toEqual([]);
    expect(await rows(t.ch, `SELECT 1 FROM events WHERE account_id = {b:String}`, { b: B.id })).toEqual([]);
    for (const table of ['events', 'recommendations']) {
      const bad = `SELECT 1 FROM ${table} WHERE session_id = '{x:String}' OR listing = '../../x' OR person_id = '../../p'`;
      expect(await rows(t.ch, bad), table).toEqual([]);
    }

    // CTR per listing by hand: l1 shown in s1, s2, s4 and clicked in s1 and s4 (live) = 2/3;
    // l2 shown in s1, s3 and clicked in both = 2/2.
    const ctrSql = `
      SELECT i.listing AS listing, i.n AS impressions, c.n AS clicks, round(c.n / i.n, 4) AS ctr
      FROM (SELECT listing, count() AS n FROM recommendations FINAL WHERE account_id = {a:String} GROUP BY listing) AS i
      LEFT JOIN (SELECT listing, count() AS n FROM events WHERE account_id = {a:String} AND type = 'click' AND rec_id != '' GROUP BY listing) AS c
        ON c.listing = i.listing
      ORDER BY listing`;
    const expected = [
      { listing: 'l1', impressions: 3, clicks: 2, ctr: 0.6667 },
      { listing: 'l2', impressions: 2, clicks: 2, ctr: 1 },
    ];
    const ctr = async () =>
      (await rows<Record<string, unknown>>(t.ch, ctrSql, { a: A.id })).map((r) => ({
        ...r,
        impressions: Number(r.impressions),
        clicks: Number(r.clicks),
        ctr: Number(r.ctr),
      }));
    expect(await ctr()).toEqual(expected);

    // Second run over the same window, through the CLI with --wait: nothing new.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'jobs-backfill-'));
    fx.trackDir(dir);
    const file = path.join(dir, 'reco.log');
    await writeFile(file, log);
    const { code, out, err } = await cliAgainst(t.url, A.adminKey, ['backfill-from-logs', file, '--from', from, '--to', to, '--wait', '--json']);
    expect(err).toMatch(/\[#{30}\] 100% completed/);
    expect(code).toBe(0);
    const again = JSON.parse(out) as { result: Record<string, unknown> };
    expect(again.result).toMatchObject({ recWritten: 0, clickWritten: 0, skipped: 13, invalid: 6, skippedReasons: { window: 2, present: 10, erased: 1 } });
    expect(await ctr()).toEqual(expected);
    const clickRows = await rows<{ n: string }>(t.ch, `SELECT count() AS n FROM events WHERE account_id = {a:String} AND type = 'click'`, { a: A.id });
    expect(Number(clickRows[0]!.n)).toBe(4);

    // The kept job no longer carries the log text.
    const job = await t.service.ctx!.jobs!.backfill.getJob(jobId);
    expect(job?.data.logs).toBe('');
    expect(job?.data.bytes).toBe(Buffer.byteLength(log));
  });
});
