/**
 * The README's start command, `bin/setup start`, as a user runs it (a real process, the whole
 * service on embedded defaults, no accounts file) on a port that is not 8080: it comes up, its
 * banner says truly where it listens, and the demo account's click link lands back on this
 * gateway at the host and port the browser used.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/adapters/redis/launcher.js';
import { REPO_ROOT } from '../support/processes.js';
import { BROWSER_UA } from '../support/services.js';

let child: ChildProcess;
let exited: Promise<number | string>;
let dataDir: string;
let port: number;
let banner = '';

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'visitor-setup-'));
  port = await freePort();
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(PORT|HOST|DATA_DIR|REDIS_|CLICKHOUSE_|STORE_PORT|ACCOUNTS_FILE|ROLES|LOG_LEVEL|VISITOR_|INIT_CWD$)/.test(k),
    ),
  ) as Record<string, string>;
  // Its own process group: the stop below reaches npm, the service and everything under them.
  child = spawn(path.join(REPO_ROOT, 'bin/setup'), ['start'], {
    cwd: REPO_ROOT,
    env: { ...env, PORT: String(port), STORE_PORT: String(await freePort()), DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bin/setup start did not come up:\n${banner}`)), 150_000);
    child.stderr!.on('data', (d: Buffer) => {
      banner += d.toString();
      if (/visitor service up[\s\S]*REDIS_URL=\S+\n/.test(banner)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`bin/setup start exited with ${code}:\n${banner}`));
    });
  });
}, 180_000);

afterAll(async () => {
  if (child?.pid && child.exitCode === null && child.signalCode === null) {
    process.kill(-child.pid, 'SIGTERM');
    const killer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 20_000);
    await exited;
    clearTimeout(killer);
  }
  await rm(dataDir, { recursive: true, force: true });
}, 30_000);

/** An address of this machine other than loopback, when it has one. */
function otherAddress(): string | undefined {
  return Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

describe('bin/setup start', () => {
  it('comes up on the configured port and answers /healthz', async () => {
    expect(port).not.toBe(8080);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  it('says truly where it listens: the URL to use here, and that the default HOST is every interface', async () => {
    expect(banner).toContain(`  gateway      http://127.0.0.1:${port}   (dashboard at /, snippet at /t.js)\n`);
    expect(banner).toContain(`               bound to 0.0.0.0:${port} = every interface, other machines included (HOST=127.0.0.1 keeps it on this one)\n`);
    const other = otherAddress();
    if (other) expect((await fetch(`http://${other}:${port}/healthz`)).status).toBe(200);
  });

  it('prints where the demo key is, as an absolute path the CLI can use from anywhere', () => {
    const keyFile = /demo admin key in (\S+)/.exec(banner)?.[1];
    expect(keyFile).toBe(path.join(dataDir, 'credentials/demo/admin-key'));
    expect(existsSync(keyFile!) && readFileSync(keyFile!, 'utf8').trim().length).toBeGreaterThan(20);
  });

  it("the demo click link redirects to this gateway's page at the host and port the browser used", async () => {
    for (const host of ['127.0.0.1', 'localhost', otherAddress()].filter((h): h is string => Boolean(h))) {
      const link = `http://${host}:${port}/listings/12-high-st/click?account=demo&session=s-setup`;
      const res = await fetch(link, { redirect: 'manual', headers: { 'user-agent': BROWSER_UA } });
      expect(res.status, host).toBe(302);
      const target = new URL(res.headers.get('location')!, link);
      expect(target.href, host).toBe(`http://${host}:${port}/?listing=12-high-st`);
      const page = await fetch(target, { headers: { 'user-agent': BROWSER_UA } });
      expect(page.status, host).toBe(200);
      expect(page.headers.get('content-type'), host).toContain('text/html');
    }
  });
});
