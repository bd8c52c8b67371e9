/**
 * Erasure on disk: after the job, no file the service keeps (the chdb data path, the private
 * Redis's directory with its append-only files, the credentials) and no row of
 * `system.mutations` holds an id of the erased person, of their visitors or of their sessions.
 * The ids are random base64url strings: nothing else on disk contains them, and LZ4 blocks keep
 * at least their first occurrence literal, so a byte search finds every copy. A search before
 * the erasure must find them (else the walk proves nothing).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/adapters/redis/keys.js';
import type { ErasureResult } from '../../src/domain/job-results.js';
import { CHDB_PATH, beacon, eventually, postEvent, rows, type TestService } from '../support/services.js';
import { serviceTurns, useFixture } from '../support/fixture.js';
import { adminApi, jobDone, jobWorkersOf } from '../support/jobs.js';

const turns = serviceTurns(useFixture());

/** 16 random base64url characters after a readable tag. */
const rid = (tag: string) => `${tag}${randomBytes(12).toString('base64url')}`;

/** The chdb engine's staging dir for inserts (chdb-insert.ts): its files are removed after each insert. */
const INSERT_STAGING = path.join(os.tmpdir(), `visitor-chdb-staging-${process.pid}`);

async function* walk(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

/** `file → ids found in it`, over every file under `roots` (except `skip`). */
async function filesHolding(roots: readonly string[], ids: readonly string[], skip: (file: string) => boolean = () => false): Promise<Map<string, string[]>> {
  const hits = new Map<string, string[]>();
  for (const root of roots) {
    for await (const f of walk(root)) {
      if (skip(f)) continue;
      const buf = await readFile(f).catch(() => undefined);
      if (!buf) continue;
      const found = ids.filter((id) => buf.includes(id));
      if (found.length) hits.set(f, found);
    }
  }
  return hits;
}

describe('erasure on disk', () => {
  it('leaves no id of the person, their visitors or sessions in any file or mutation record; others stay', { timeout: 180_000 }, async () => {
    // No REDIS_URL: the service's own redis-server keeps its AOF under DATA_DIR/redis.
    const s1 = await turns.start({ env: { ROLES: 'gateway,worker', JOB_BACKOFF_MS: '100' } });
    const A = s1.account;
    const admin = (svc: TestService, method: string, p: string, body?: unknown) => adminApi(svc, A.adminKey, method, p, body);

    const P = rid('P');
    const [vA, vB, vC] = [rid('vA'), rid('vB'), rid('vC')];
    const [sA1, sA2, sB1, sC1, sA3] = [rid('sA'), rid('sA'), rid('sB'), rid('sC'), rid('sA')];
    const [titleFlushed, titleWaiting, propWaiting, recP] = [rid('T'), rid('T'), rid('X'), rid('R')];
    const Q = rid('Q');
    const [vQ, sQ, titleQ] = [rid('vQ'), rid('sQ'), rid('TQ')];

    const minted = await admin(s1, 'POST', '/api/tokens', { personId: P });
    expect(minted.status).toBe(200);
    const { token } = (await minted.json()) as { token: string };
    for (const e of [
      beacon(A.id, { visitorId: vA, sessionId: sA1, path: '/listings/l1', listing: 'l1', title: titleFlushed }),
      beacon(A.id, { visitorId: vA, sessionId: sA2, type: 'scroll', path: '/listings/l1', depth: 50 }),
      beacon(A.id, { visitorId: vB, sessionId: sB1, path: '/about' }),
      beacon(A.id, { visitorId: vQ, sessionId: sQ, path: '/listings/l2', listing: 'l2', title: titleQ }),
    ])
      expect((await postEvent(s1.url, e)).status).toBe(204);
    // A third device known only from the signed cookie.
    expect((await postEvent(s1.url, beacon(A.id, { visitorId: vC, sessionId: sC1, path: '/listings/l3' }), { cookie: `mxy_v=${token}` })).status).toBe(204);
    for (const [visitorId, personId] of [
      [vA, P],
      [vB, P],
      [vQ, Q],
    ])
      expect((await admin(s1, 'POST', '/api/identify', { visitorId, personId })).status).toBe(202);
    expect((await admin(s1, 'POST', '/api/recommendations', { recommendations: [{ listing: 'l1', recId: recP, sessionId: sA1, personId: P }] })).status).toBe(
      202,
    );
    await eventually(async () => {
      const [e] = await rows<{ n: string }>(s1.ch, 'SELECT count() AS n FROM events');
      const [g] = await rows<{ n: string }>(s1.ch, 'SELECT count() AS n FROM identity_edges');
      const [r] = await rows<{ n: string }>(s1.ch, 'SELECT count() AS n FROM recommendations');
      return Number(e!.n) === 5 && Number(g!.n) === 4 && Number(r!.n) === 1;
    }, 20_000);
    await turns.stop();

    // Gateway only: the next events wait in the stream, hence in the AOF.
    const gw = await turns.start({ reuse: s1, env: { ROLES: 'gateway' } });
    expect(
      (await postEvent(gw.url, beacon(A.id, { visitorId: vA, sessionId: sA3, path: '/listings/l4', title: titleWaiting, props: { note: propWaiting } })))
        .status,
    ).toBe(204);
    expect((await postEvent(gw.url, beacon(A.id, { visitorId: vQ, sessionId: sQ, path: '/listings/l5' }))).status).toBe(204);
    const keys = new RedisKeys(gw.config.REDIS_PREFIX);
    expect(await gw.service.redis.xlen(keys.eventStream(A.id))).toBe(2);

    // The ids, and the title and props of the event that waited in the stream (the AOF held its
    // raw JSON). A flushed event's title also names its page, which stays (pages are content).
    const pIds = [P, vA, vB, vC, sA1, sA2, sB1, sC1, sA3, titleWaiting, propWaiting, recP];
    const qIds = [Q, vQ, sQ, titleQ];
    const redisDir = path.join(gw.dataDir, 'redis');
    const roots = [gw.dataDir, CHDB_PATH, INSERT_STAGING];
    // The service's log files sit in the test's DATA_DIR only because the test helper puts them
    // there; in production they are the operator's (stdout). They are checked on their own below.
    const isLog = (f: string) => path.dirname(f) === gw.dataDir && /^service-.*\.log$/.test(path.basename(f));

    // The search works: before the erasure every kind of id is on disk, in chdb and in the AOF.
    // Searched until all are found: on a busy disk Redis may delay an AOF write by up to 2 s
    // (appendfsync everysec), and chdb may be merging the parts the walk lists.
    const expected = [P, vA, vB, vC, sA1, sB1, sC1, sA3, titleWaiting, propWaiting, recP];
    let before = new Map<string, string[]>();
    let foundBefore = new Set<string>();
    await eventually(async () => {
      before = await filesHolding(roots, pIds, isLog);
      foundBefore = new Set([...before.values()].flat());
      return expected.every((id) => foundBefore.has(id));
    }, 15_000).catch(() => undefined);
    for (const id of expected) expect(foundBefore, id).toContain(id);
    expect([...before.keys()].some((f) => f.startsWith(CHDB_PATH))).toBe(true);
    expect([...before.keys()].some((f) => f.startsWith(path.join(redisDir, 'appendonlydir')))).toBe(true);
    const qRowsBefore = await rows(gw.ch, 'SELECT * FROM events WHERE visitor_id = {v:String} ORDER BY ts, event_id', { v: vQ });
    expect(qRowsBefore.length).toBe(1);

    // A base file written uncompressed, so that the byte search reads the rewritten AOF as it is.
    await gw.service.redis.config('SET', 'rdbcompression', 'no');

    const res = await admin(gw, 'POST', `/api/persons/${P}/erase`);
    expect(res.status).toBe(202);
    const { jobId } = (await res.json()) as { jobId: string };
    const workers = jobWorkersOf(gw);
    const { result } = await jobDone<ErasureResult>(gw, A.adminKey, jobId, 90_000);
    await workers.stop();
    expect(result.visitors).toBe(3);
    expect(result.totalRows).toBeGreaterThan(0);
    expect(result.streamEntries).toBe(1);
    expect(result.oldPartsLeft).toBe(0);
    expect(result.aof).toBe('rewritten');
    expect(result.outsideReach.join(' ')).toMatch(/log files the operator keeps/);

    // Mutation records: the deletes ran, and name the staging table and the account only.
    const mutations = await rows<{ command: string }>(gw.ch, 'SELECT command FROM system.mutations');
    expect(mutations.some((m) => m.command.includes('erase_ids_'))).toBe(true);
    expect(mutations.filter((m) => pIds.some((id) => m.command.includes(id)))).toEqual([]);
    expect(await rows(gw.ch, "SELECT name FROM system.tables WHERE database = currentDatabase() AND startsWith(name, 'erase_ids_')")).toEqual([]);
    // Every table erasure cleans was given the short part lifetime (a later table without it fails here).
    const tables = Object.keys(result.tables);
    expect(tables.length).toBeGreaterThanOrEqual(5);
    for (const t of tables) {
      const [row] = await rows<{ engine_full: string }>(
        gw.ch,
        'SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {t:String}',
        { t },
      );
      expect(row!.engine_full, t).toMatch(/old_parts_lifetime = 10\b.*finished_mutations_to_keep = 1\b/);
    }

    // Every file: chdb's data path (parts, mutation_N.txt, metadata), the Redis dir (AOF base,
    // incr and manifest; Redis removes the old ones just after the rewrite), credentials.
    await eventually(async () => (await filesHolding(roots, pIds, isLog)).size === 0, 10_000).catch(() => undefined);
    const uuids = new Map(
      (await rows<{ uuid: string; name: string }>(gw.ch, 'SELECT toString(uuid) AS uuid, name FROM system.tables WHERE database = currentDatabase()')).map(
        (r) => [r.uuid, r.name],
      ),
    );
    const named = (f: string) => f.replace(/\/store\/[0-9a-f]{3}\/([0-9a-f-]{36})\//, (m, u: string) => `${m}(${uuids.get(u) ?? '?'})/`);
    expect(Object.fromEntries([...(await filesHolding(roots, pIds, isLog))].map(([f, ids]) => [named(f), ids]))).toEqual({});
    const aofFiles = await readdir(path.join(redisDir, 'appendonlydir'));
    expect(aofFiles.some((f) => f.endsWith('.base.rdb') || f.endsWith('.base.aof'))).toBe(true);

    expect(await rows(gw.ch, 'SELECT 1 FROM pages WHERE finalizeAggregation(title) = {t:String}', { t: titleFlushed })).toHaveLength(1);

    // Another person's rows are untouched, and still found on disk by the same search.
    expect(await rows(gw.ch, 'SELECT * FROM events WHERE visitor_id = {v:String} ORDER BY ts, event_id', { v: vQ })).toEqual(qRowsBefore);
    const qFound = new Set([...(await filesHolding(roots, qIds, isLog)).values()].flat());
    for (const id of qIds) expect(qFound, id).toContain(id);
    const waiting = ((await gw.service.redis.xrange(keys.eventStream(A.id), '-', '+')) as [string, string[]][]).map(([, f]) => f.join(' '));
    expect(waiting.length).toBe(1);
    expect(waiting[0]).toContain(vQ);

    // Log lines name the person by pseudonym: the identity lines carry ps_/vs_, never the ids.
    const ps = gw.service.ids.personLogId(A.id, P)!;
    const lines = [...s1.messages(), ...gw.messages()];
    expect(lines.filter((m) => m.startsWith('[token-mint]') && m.includes(`person=${ps}`)).length).toBe(1);
    expect(
      lines.filter((m) => m.startsWith('[identify]') && m.includes(`person=${ps}`) && m.includes(`visitor=${gw.service.ids.visitorLogId(A.id, vA)}`)).length,
    ).toBe(1);
    // `[visitor-event]` lines belong to the ingest pipeline, which names persons through the same
    // Pseudonyms once it adopts them; every other line is checked here.
    const logFiles = (await readdir(gw.dataDir)).filter((f) => /^service-.*\.log$/.test(f));
    expect(logFiles.length).toBe(2);
    for (const f of logFiles) {
      const text = await readFile(path.join(gw.dataDir, f), 'utf8');
      const bad = text.split('\n').filter((l) => !l.includes('[visitor-event]') && pIds.some((id) => l.includes(id)));
      expect(bad, f).toEqual([]);
    }
    expect(existsSync(path.join(gw.dataDir, 'credentials', 'pseudonym.key'))).toBe(true);
  });
});
