import { randomBytes } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/adapters/redis/keys.js';
import { BROWSER_UA, beacon, eventually, postEvent, rows } from '../support/services.js';
import { serviceTurns, useFixture, useTestRedis } from '../support/fixture.js';
import { cliAgainst } from '../support/cli.js';
import { adminApi, jobDone, jobWorkersOf, type JobStatus } from '../support/jobs.js';

const fx = useFixture();
const shared = useTestRedis(fx);
const turns = serviceTurns(fx);

const uid = () => randomBytes(3).toString('hex');

/** Tables holding rows of persons (a visitor, person or session column), filled by {@link snapshot}. */
const personTables = new Set<string>();

/**
 * Every row of every table that stores rows, as sorted JSON strings. Aggregate states are
 * finalised and collapsing engines read with FINAL, so background merges do not show as changes.
 */
async function snapshot(ch: ClickHouseClient): Promise<Map<string, string[]>> {
  const cols = await rows<{ table: string; name: string; type: string; engine: string }>(
    ch,
    `SELECT c.table AS table, c.name AS name, c.type AS type, t.engine AS engine
     FROM system.columns AS c INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table
     WHERE c.database = currentDatabase() AND t.engine LIKE '%MergeTree' ORDER BY c.table, c.position`,
  );
  const byTable = new Map<string, typeof cols>();
  for (const c of cols) byTable.set(c.table, [...(byTable.get(c.table) ?? []), c]);
  const out = new Map<string, string[]>();
  for (const [table, cs] of byTable) {
    if (cs.some((c) => ['visitor_id', 'person_id', 'session_id'].includes(c.name))) personTables.add(table);
    const list = cs.map((c) => (c.type.startsWith('AggregateFunction(') ? `finalizeAggregation(\`${c.name}\`) AS \`${c.name}\`` : `\`${c.name}\``)).join(', ');
    const final = /^(Replicated)?(Replacing|Aggregating|Summing|Collapsing|VersionedCollapsing)MergeTree$/.test(cs[0]!.engine) ? 'FINAL' : '';
    const rs = await rows(ch, `SELECT ${list} FROM \`${table}\` ${final}`);
    out.set(table, rs.map((r) => JSON.stringify(r)).sort());
  }
  return out;
}

const mentions = (json: string, ids: readonly string[]) => ids.some((id) => json.includes(id));
const ofAccount = (json: string, account: string) => {
  const r = JSON.parse(json) as { account_id?: unknown };
  return r.account_id === undefined || r.account_id === account;
};

/** Every Redis key of the namespace (other accounts' keys aside) whose name or content mentions one of `ids`. */
async function redisMentions(prefix: string, account: string, ids: readonly string[]): Promise<string[]> {
  const hits: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await shared.client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', '500');
    cursor = next;
    for (const k of keys) {
      if (/:\{[a-z0-9-]+\}:/.test(k) && !k.includes(`:{${account}}:`)) continue;
      const type = await shared.client.type(k);
      let content: unknown;
      if (type === 'string') content = await shared.client.get(k);
      else if (type === 'hash') content = await shared.client.hgetall(k);
      else if (type === 'set') content = await shared.client.smembers(k);
      else if (type === 'zset') content = await shared.client.zrange(k, '0', '-1');
      else if (type === 'list') content = await shared.client.lrange(k, 0, -1);
      else if (type === 'stream') content = await shared.client.xrange(k, '-', '+');
      if (mentions(k, ids) || mentions(JSON.stringify(content ?? ''), ids)) hits.push(k);
    }
  } while (cursor !== '0');
  return hits.sort();
}

describe('erasure of a person', () => {
  it(
    'removes every row of the person, their visitors and sessions (stream included), keeps everything else, revokes tokens, and is idempotent',
    { timeout: 120_000 },
    async () => {
      const s1 = await turns.start({
        redisUrl: shared.redis.url,
        accounts: [`er-${uid()}`, `eb-${uid()}`],
        env: { TOKEN_REVOCATION_CACHE_MS: '0', JOB_BACKOFF_MS: '100' },
      });
      const A = s1.accounts[0]!;
      const B = s1.accounts[1]!;
      const keys = new RedisKeys(s1.config.REDIS_PREFIX);
      const x = uid();
      const P = `p-gone-${x}`;
      const Q = `p-stays-${x}`;
      const vP = [1, 2, 3, 4].map((i) => `vp${i}-${x}`);
      const sP = [1, 2, 3, 4, 5, 6].map((i) => `sp${i}-${x}`);
      const vQ1 = `vq1-${x}`;
      const vR1 = `vr1-${x}`;

      // Tokens: minted before the erasure, used as a cookie by P's third device.
      const mint = await adminApi(s1, A.adminKey, 'POST', '/api/tokens', { personId: P });
      expect(mint.status).toBe(200);
      const { token } = (await mint.json()) as { token: string };

      // Seed through the real gateway: P on four devices, Q on one, R anonymous; account B reuses
      // P's ids for its own, unrelated visitor and person (must survive: erasure is per account).
      const events = [
        beacon(A.id, { visitorId: vP[0], sessionId: sP[0], path: '/listings/l1', listing: 'l1', title: 'Flat l1' }),
        beacon(A.id, { visitorId: vP[0], sessionId: sP[0], type: 'scroll', path: '/listings/l1', depth: 50 }),
        beacon(A.id, { visitorId: vP[0], sessionId: sP[0], type: 'click', path: '/listings/l1', label: 'floorplan', listing: 'l1' }),
        beacon(A.id, { visitorId: vP[0], sessionId: sP[2], path: '/about' }),
        beacon(A.id, { visitorId: vP[1], sessionId: sP[1], path: '/listings/l2', listing: 'l2' }),
        beacon(A.id, { visitorId: vP[3], sessionId: sP[3], path: '/contact' }),
        beacon(A.id, { visitorId: vQ1, sessionId: `sq1-${x}`, path: '/listings/l1', listing: 'l1' }),
        beacon(A.id, { visitorId: vQ1, sessionId: `sq1-${x}`, type: 'click', path: '/listings/l1', listing: 'l1', rec: `rq-${x}`, label: 'recommendation' }),
        beacon(A.id, { visitorId: vR1, sessionId: `sr1-${x}`, path: '/listings/l2', listing: 'l2' }),
      ];
      for (const e of events) expect((await postEvent(s1.url, e)).status).toBe(204);
      // P's third device carries the token cookie: its events are attributed to P at ingest.
      expect((await postEvent(s1.url, beacon(A.id, { visitorId: vP[2], sessionId: sP[4], path: '/listings/l3' }), { cookie: `mxy_v=${token}` })).status).toBe(
        204,
      );
      expect((await postEvent(s1.url, beacon(B.id, { visitorId: vP[0], sessionId: sP[0], path: '/listings/l1' }))).status).toBe(204);
      for (const [acct, visitorId, personId] of [
        [A, vP[0], P],
        [A, vP[1], P],
        [A, vP[3], P],
        [A, vQ1, Q],
        [B, vP[0], P],
      ] as const) {
        expect((await adminApi(s1, acct.adminKey, 'POST', '/api/identify', { visitorId, personId })).status).toBe(202);
      }
      const recs = [
        { listing: 'l1', recId: `rp1-${x}`, sessionId: sP[0] },
        { listing: 'l2', recId: `rp2-${x}`, sessionId: sP[5], personId: P },
        { listing: 'l1', recId: `rq-${x}`, sessionId: `sq1-${x}`, personId: Q },
      ];
      expect((await adminApi(s1, A.adminKey, 'POST', '/api/recommendations', { recommendations: recs })).status).toBe(202);
      expect(
        (
          await adminApi(s1, B.adminKey, 'POST', '/api/recommendations', {
            recommendations: [{ listing: 'l1', recId: `rb-${x}`, sessionId: sP[0], personId: P }],
          })
        ).status,
      ).toBe(202);
      await eventually(async () => {
        const [e] = await rows<{ n: string }>(s1.ch, 'SELECT count() AS n FROM events');
        const [g] = await rows<{ n: string }>(s1.ch, 'SELECT count() AS n FROM identity_edges');
        const [r] = await rows<{ n: string }>(s1.ch, 'SELECT count() AS n FROM recommendations');
        return Number(e!.n) === events.length + 2 && Number(g!.n) === 6 && Number(r!.n) === 4;
      }, 15_000);

      const before = await snapshot(s1.ch);
      const pIds = [P, ...vP, ...sP];
      const rowsOf = (snap: Map<string, string[]>, ids: readonly string[]) =>
        [...snap].flatMap(([t, rs]) => rs.filter((r) => ofAccount(r, A.id) && mentions(r, ids)).map((r) => `${t}: ${r}`));
      // The seed really put P in many tables (events, edges, recommendations and the view targets).
      const seededTables = new Set(rowsOf(before, pIds).map((r) => r.split(':')[0]));
      for (const t of ['events', 'identity_edges', 'recommendations']) expect(seededTables).toContain(t);
      expect(seededTables.size).toBeGreaterThanOrEqual(5);
      expect(before.get('pages')!.length).toBeGreaterThan(0);
      expect(await redisMentions(s1.config.REDIS_PREFIX, A.id, [vP[0]!])).not.toEqual([]);
      await turns.stop();

      // Gateway only: no flusher, so new events wait in the stream.
      const gw = await turns.start({ reuse: s1, env: { ROLES: 'gateway' } });
      const vP9 = `vp9-${x}`;
      const vQ2 = `vq2-${x}`;
      const vR2 = `vr2-${x}`;
      const sP7 = `sp7-${x}`;
      const sP8 = `sp8-${x}`;
      expect((await postEvent(gw.url, beacon(A.id, { visitorId: vP[0], sessionId: sP7, path: '/listings/l1' }))).status).toBe(204);
      // A device never seen before, known as P only from the token cookie (its edge is in the stream too).
      expect((await postEvent(gw.url, beacon(A.id, { visitorId: vP9, sessionId: sP8, path: '/listings/l1' }), { cookie: `mxy_v=${token}` })).status).toBe(204);
      expect((await postEvent(gw.url, beacon(A.id, { visitorId: vQ2, sessionId: `sq7-${x}`, path: '/new/q' }))).status).toBe(204);
      expect((await postEvent(gw.url, beacon(A.id, { visitorId: vR2, sessionId: `sr7-${x}`, path: '/new/r' }))).status).toBe(204);
      const stream = keys.eventStream(A.id);
      const streamLen = await shared.client.xlen(stream);
      expect(streamLen).toBeGreaterThanOrEqual(4);
      // Rows ClickHouse once refused wait in the dead-letter stream (the flusher's format): P's go too.
      const dead = keys.deadLetters(A.id);
      for (const v of [vP[1], vQ2]) {
        const row = JSON.stringify({ account_id: A.id, visitor_id: v, session_id: `dl-${v}`, person_id: '', type: 'pageview' });
        await shared.client.xadd(dead, '*', 't', 'events', 'r', row, 'id', '0-1', 'code', '27', 'err', 'Cannot parse input');
      }

      // Erasure requested through the API; a worker (this test's) runs it while no flusher runs.
      expect((await adminApi(gw, A.adminKey, 'POST', '/api/persons/%20/erase')).status).toBe(400);
      const res = await adminApi(gw, A.adminKey, 'POST', `/api/persons/${P}/erase`);
      expect(res.status).toBe(202);
      const { jobId } = (await res.json()) as { jobId: string };
      expect((await adminApi(gw, B.adminKey, 'GET', `/api/jobs/${jobId}`)).status).toBe(404);
      const workers = jobWorkersOf(gw);
      const done = await jobDone(gw, A.adminKey, jobId);
      await workers.stop();
      const result = done.result as { tables: Record<string, number>; totalRows: number; visitors: number; sessions: number; streamEntries: number };
      expect(result.visitors).toBe(5); // vp1-4 and the stream-only vp9
      expect(result.totalRows).toBe(Object.values(result.tables).reduce((a, b) => a + b, 0));
      expect(result.totalRows).toBeGreaterThan(0);
      expect(result.tables).not.toHaveProperty('pages');
      const removedFromStream = streamLen - (await shared.client.xlen(stream));
      expect(result.streamEntries).toBe(removedFromStream + 1);
      const deadLeft = ((await shared.client.xrange(dead, '-', '+')) as [string, string[]][]).map(([, f]) => f.join(' '));
      expect(deadLeft.length).toBe(1);
      expect(deadLeft[0]).toContain(vQ2);
      expect(removedFromStream).toBeGreaterThanOrEqual(2);
      const waiting = ((await shared.client.xrange(stream, '-', '+')) as [string, string[]][]).map(([, f]) => f.join(' '));
      expect(waiting.filter((w) => mentions(w, [P, vP9, sP7, sP8, ...vP]))).toEqual([]);
      expect(waiting.filter((w) => w.includes(vQ2)).length).toBeGreaterThan(0);

      // The log line carries counts, never the person.
      const line = gw.messages().find((m) => m.startsWith('[erasure] '));
      expect(line).toContain(`account=${A.id} tables=`);
      expect(line).toContain(` rows=${result.totalRows} `);
      expect(
        gw
          .messages()
          .filter((m) => m.startsWith('[erasure]') || m.startsWith('[jobs]'))
          .filter((m) => m.includes(P)),
      ).toEqual([]);

      // Redis: nothing of P is left, not even in the erasure marks (the revocation list and the
      // stream filter hold keyed hashes of the ids).
      expect(await redisMentions(gw.config.REDIS_PREFIX, A.id, [P, ...vP, vP9, sP7, sP8])).toEqual([]);
      const ids = gw.service.ids;
      expect(Number(await shared.client.hget(keys.erasedPersons(A.id), ids.mark(A.id, 'person', P)))).toBeGreaterThan(0);
      expect((await shared.client.smembers(keys.erasedVisitors(A.id))).sort()).toEqual([...vP, vP9].map((v) => ids.mark(A.id, 'visitor', v)).sort());

      // The old token is refused: by the click route (no cookie set), and for minting again.
      const click = await fetch(`${gw.url}/listings/l1/click?account=${A.id}&session=sp10-${x}&v=${encodeURIComponent(token)}`, {
        redirect: 'manual',
        headers: { 'user-agent': BROWSER_UA, cookie: `mxy_a=${vP[1]}` },
      });
      expect(click.status).toBe(302);
      expect(click.headers.get('set-cookie')).toBeNull();
      await eventually(() => gw.messages().some((m) => m.startsWith('[token-bind] reject') && m.includes('reason=revoked')));
      // An old cookie no longer attributes; and P's known devices that come back are dropped at flush.
      expect(
        (await postEvent(gw.url, beacon(A.id, { visitorId: vP[1], sessionId: `sp11-${x}`, path: '/listings/l2' }), { cookie: `mxy_v=${token}` })).status,
      ).toBe(204);
      await turns.stop();

      // Workers back: the stream drains; P's rows that were waiting never arrive.
      const s3 = await turns.start({ reuse: s1, env: { ROLES: 'gateway,worker' } });
      await eventually(
        async () =>
          (await shared.client.xlen(stream)) === 0 && (await rows(s3.ch, 'SELECT 1 FROM events WHERE visitor_id = {v:String}', { v: vR2 })).length === 1,
        15_000,
      );
      const after = await snapshot(s3.ch);
      const allP = [...pIds, vP9, sP7, sP8, `sp10-${x}`, `sp11-${x}`];
      expect(rowsOf(after, allP)).toEqual([]);
      // Every other person's rows are exactly as before (rows of the new Q/R visitors and paths
      // aside), in every table with rows of persons; account-level series (presence samples) move on.
      const fresh = [vQ2, vR2, `sq7-${x}`, `sr7-${x}`, '/new/'];
      expect(personTables.size).toBeGreaterThanOrEqual(7);
      for (const [table, rs] of before) {
        if (!personTables.has(table)) continue;
        const kept = rs.filter((r) => !(ofAccount(r, A.id) && mentions(r, pIds)));
        expect(
          (after.get(table) ?? []).filter((r) => !mentions(r, fresh)),
          table,
        ).toEqual(kept);
      }
      expect(after.get('pages')!.filter((r) => !mentions(r, fresh))).toEqual(before.get('pages'));
      expect((after.get('events') ?? []).filter((r) => mentions(r, [vQ2])).length).toBe(1);

      // A second run (through the CLI, waiting for it) is harmless: zero rows everywhere, nothing
      // else changes, a second receipt.
      const { code, out, err } = await cliAgainst(s3.url, A.adminKey, ['erase-person', P, '--wait', '--json']);
      expect(err).toMatch(/\[#{30}\] 100% completed/);
      expect(code).toBe(0);
      const second = JSON.parse(out) as JobStatus;
      expect(second.state).toBe('completed');
      expect(second.result).toMatchObject({ totalRows: 0, streamEntries: 0 });
      expect(Object.values((second.result as { tables: Record<string, number> }).tables).every((n) => n === 0)).toBe(true);
      const afterSecond = await snapshot(s3.ch);
      for (const [table, rs] of after) if (personTables.has(table) || table === 'pages') expect(afterSecond.get(table), table).toEqual(rs);

      // Receipts: when, which job, counts per table; no personal data (no id of P anywhere).
      const receipts = await rows<{ job_id: string; total_rows: string; tables: Record<string, string> }>(
        s3.ch,
        'SELECT job_id, total_rows, tables FROM erasure_receipts WHERE account_id = {a:String} ORDER BY erased_at',
        { a: A.id },
      );
      expect(receipts.map((r) => [r.job_id, Number(r.total_rows)])).toEqual([
        [jobId, result.totalRows],
        [expect.any(String), 0],
      ]);
      expect(Number(receipts[0]!.tables.events)).toBe(result.tables.events);
      expect((afterSecond.get('erasure_receipts') ?? []).filter((r) => mentions(r, allP))).toEqual([]);
    },
  );
});
