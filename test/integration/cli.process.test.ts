/**
 * The `visitor` CLI as an operator runs it: `bin/visitor.js` in a child process of its own,
 * against a listening gateway (real Redis, real chdb). What it prints, what it says when the
 * key file or the service is missing, and what it stores.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/adapters/redis/launcher.js';
import { REPO_ROOT, runVisitorCli } from '../support/processes.js';
import { BROWSER_UA, beacon, eventually, postEvent, randomId, rows } from '../support/services.js';
import { useTestService } from '../support/fixture.js';

const t = useTestService({ withRedis: true }, 60_000);
let dir: string;

beforeAll(async () => {
  dir = t.fx.trackDir(await mkdtemp(path.join(os.tmpdir(), 'visitor-cli-')));
});

const visitor = (args: string[], env: Record<string, string> = {}) => runVisitorCli(args, { VISITOR_URL: t.url, ...env });

const asAdmin = () => ({ VISITOR_KEY: t.account.adminKey });

function expectOneLineNoStack(err: string): void {
  expect(err.trimEnd().split('\n')).toHaveLength(1);
  expect(err).not.toMatch(/^\s+at /m);
  expect(err).not.toMatch(/ENOENT|node:internal|fetch failed/);
}

describe('values to copy are printed whole', () => {
  it('mint-token: the whole token in the table (it opens the click link), personId in --json', async () => {
    const person = `p-${'x'.repeat(90)}`;
    const table = await visitor(['mint-token', person], asAdmin());
    expect(table.code).toBe(0);
    expect(table.out).not.toContain('…');
    const token = /\b(v1\.\S+)/.exec(table.out)?.[1];
    expect(token).toBeDefined();
    const click = await fetch(`${t.url}/listings/12-high-st/click?account=${t.account.id}&session=s-1&v=${encodeURIComponent(token!)}`, {
      redirect: 'manual',
      headers: { 'user-agent': BROWSER_UA },
    });
    expect(click.status).toBe(302);
    expect(click.headers.get('set-cookie')).toContain(`mxy_v=${token}`);

    const json = await visitor(['mint-token', person, '--ttl-days', '2', '--json'], asAdmin());
    expect(json.code).toBe(0);
    const body = JSON.parse(json.out) as { token: string; expiryMs: number; personId: string };
    expect(body.personId).toBe(person);
    expect(body.token).toMatch(new RegExp(`^v1\\.${person}\\.${body.expiryMs}\\.`));
  }, 90_000);

  it('live-visitors: a long visitor id whole; only the title (prose) is cut', async () => {
    const visitorId = `v-${'a'.repeat(100)}`;
    const title = `A very long listing title ${'that goes on '.repeat(10)}`;
    expect((await postEvent(t.url, beacon(t.account.id, { visitorId, path: '/long', title }), { origin: t.account.origin })).status).toBe(204);
    await eventually(async () => (await visitor(['live-visitors', '--json'], asAdmin())).out.includes(visitorId), 45_000, 200);
    const run = await visitor(['live-visitors'], asAdmin());
    expect(run.code).toBe(0);
    expect(run.out).toContain(`anon ${visitorId}`);
    expect(run.out).toContain(`${title.slice(0, 59)}…`);
  }, 90_000);
});

describe('errors say what to do, in one line', () => {
  it('a missing VISITOR_KEY_FILE or --key-file: the file (absolute) and where the key comes from; exit 2', async () => {
    const viaEnv = await visitor(['online'], { VISITOR_KEY_FILE: 'data/credentials/demo/admin-key-missing' });
    expect(viaEnv.code).toBe(2);
    expectOneLineNoStack(viaEnv.err);
    expect(viaEnv.err).toContain(`admin key file ${path.join(REPO_ROOT, 'data/credentials/demo/admin-key-missing')} (VISITOR_KEY_FILE) does not exist`);
    expect(viaEnv.err).toContain('DATA_DIR/credentials/demo/admin-key');
    expect(viaEnv.err).toContain('VISITOR_KEY');

    const viaFlag = await visitor(['online', '--key-file', path.join(dir, 'nope')]);
    expect(viaFlag.code).toBe(2);
    expectOneLineNoStack(viaFlag.err);
    expect(viaFlag.err).toContain(`admin key file ${path.join(dir, 'nope')} (--key-file) does not exist`);
  }, 90_000);

  it('a relative key file is found from where `npm run` was started (INIT_CWD), not the package root', async () => {
    await writeFile(path.join(dir, 'admin-key'), `${t.account.adminKey}\n`);
    const run = await visitor(['online', '--json'], { VISITOR_KEY_FILE: 'admin-key', INIT_CWD: dir });
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({ account: t.account.id });
  }, 90_000);

  it('an unreachable service: the URL, the reason and the fix; exit 1', async () => {
    const port = await freePort();
    const run = await visitor(['online'], { ...asAdmin(), VISITOR_URL: `http://127.0.0.1:${port}` });
    expect(run.code).toBe(1);
    expectOneLineNoStack(run.err);
    expect(run.err).toBe(
      `visitor online: cannot reach the service at http://127.0.0.1:${port} (connection refused): is it running (npm start)? If it listens elsewhere, set VISITOR_URL or pass --url\n`,
    );
  }, 90_000);

  it('a broken events file: its line and column', async () => {
    const file = path.join(dir, 'broken.ndjson');
    await writeFile(file, '{"type":"pageview","sessionId":"s","visitorId":"v","path":"/"}\n{"type":"click", label: "x"}\n');
    const run = await visitor(['event-ingest', file], asAdmin());
    expect(run.code).toBe(2);
    expect(run.err).toContain(`${file}:2:18: not valid JSON: Expected double-quoted property name`);
    expect(run.err).not.toMatch(/^\s+at /m);
  }, 90_000);
});

describe('event-ingest', () => {
  it('run twice on events without ids stores them once', async () => {
    const session = randomId('s-ingest');
    const events = [
      { type: 'pageview', sessionId: session, visitorId: 'v-ingest', path: '/listings/12-high-st' },
      { type: 'scroll', sessionId: session, visitorId: 'v-ingest', path: '/listings/12-high-st', depth: 50 },
      // The same content again on another line is another event.
      { type: 'scroll', sessionId: session, visitorId: 'v-ingest', path: '/listings/12-high-st', depth: 50 },
    ];
    await writeFile(path.join(dir, 'events.ndjson'), events.map((e) => JSON.stringify(e)).join('\n'));
    const env = { ...asAdmin(), INIT_CWD: dir };

    const first = await visitor(['event-ingest', 'events.ndjson', '--json'], env);
    expect(first.err).toBe('');
    expect(JSON.parse(first.out)).toEqual({ sent: 3, accepted: 3, duplicates: 0, requests: 1 });
    const second = await visitor(['event-ingest', 'events.ndjson', '--json'], env);
    expect(JSON.parse(second.out)).toEqual({ sent: 3, accepted: 0, duplicates: 3, requests: 1 });

    // A later event through the same stream: once it is stored, everything before it is too.
    const marker = randomId('s-marker');
    expect((await postEvent(t.url, beacon(t.account.id, { sessionId: marker }), { origin: t.account.origin })).status).toBe(204);
    await eventually(async () => (await rows(t.ch, 'SELECT 1 FROM events WHERE session_id = {s:String}', { s: marker })).length === 1, 30_000, 100);
    const stored = await rows<{ type: string; n: string }>(
      t.ch,
      'SELECT type, count() AS n FROM events WHERE session_id = {s:String} GROUP BY type ORDER BY type',
      { s: session },
    );
    expect(stored.map((r) => [r.type, Number(r.n)])).toEqual([
      ['pageview', 1],
      ['scroll', 2],
    ]);
  }, 60_000);
});

describe('session-detail', () => {
  it('orders events of the same millisecond as they happen, not by their random ids', async () => {
    const session = randomId('s-order');
    const ts = Date.now() - 60_000;
    const e = (type: string, id: string, more: Record<string, unknown> = {}) => ({
      type,
      sessionId: session,
      visitorId: 'v-order',
      path: '/listings/4-mill-lane',
      ts,
      eventId: id,
      ...more,
    });
    // Ids chosen so that every byte orders leave < click < scroll < pageview: the reverse of what happened.
    const events = [
      e('pageview', 'cccccccc-cccc-4ccc-8ccc-cccccccccccc', { title: '4 Mill Lane' }),
      e('scroll', '88888888-8888-4888-8888-888888888888', { depth: 50 }),
      e('click', '44444444-4444-4444-8444-444444444444', { label: 'floorplan' }),
      e('leave', '11111111-1111-4111-8111-111111111111', { dwellMs: 12_000 }),
    ];
    const res = await fetch(`${t.url}/api/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.account.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    expect(res.status).toBe(200);
    await eventually(async () => (await rows(t.ch, 'SELECT 1 FROM events WHERE session_id = {s:String}', { s: session })).length === 4, 30_000, 100);

    const json = await visitor(['session-detail', session, '--json'], asAdmin());
    expect(json.code).toBe(0);
    expect((JSON.parse(json.out) as { timeline: { type: string }[] }).timeline.map((x) => x.type)).toEqual(['pageview', 'scroll', 'click', 'leave']);
    const table = await visitor(['session-detail', session], asAdmin());
    expect(
      table.out
        .split('\n')
        .slice(2, 6)
        .map((l) => l.split(/\s+/)[2]),
    ).toEqual(['pageview', 'scroll', 'click', 'leave']);
  }, 60_000);
});
