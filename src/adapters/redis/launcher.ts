import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, readFile, writeFile, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '../../logger.js';

export const REDIS_INSTALL_HINT = 'apt-get install -y redis-server';

export interface LocalRedis {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Look the binary up on PATH without running it: output of a synchronous child started before
 * the embedded ClickHouse engine loads can end up read by it as INSERT data.
 */
function findRedisServer(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/bin', '/usr/local/bin', '/usr/sbin'];
  for (const d of dirs) {
    if (!d) continue;
    const candidate = path.join(d, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.write('PING\r\n');
        s.once('data', (d) => {
          s.destroy();
          resolve(d.toString().startsWith('+PONG'));
        });
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server did not answer on port ${port} within ${timeoutMs} ms`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Start a private redis-server on a free loopback port, persisting under `dir` (AOF, fsync
 * every second, so a restart keeps what was accepted). A stale server left on the same dir by
 * a crashed parent is stopped first, since two servers must not share one AOF.
 */
export async function startLocalRedis(dir: string, log: Logger, opts: { port?: number } = {}): Promise<LocalRedis> {
  const bin = findRedisServer();
  if (!bin) throw new Error(`redis-server is not installed and REDIS_URL is unset: install it with \`${REDIS_INSTALL_HINT}\``);
  await mkdir(dir, { recursive: true });
  const pidFile = path.join(dir, 'redis.pid');
  const stale = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (stale > 0 && alive(stale)) {
    log.warn({ pid: stale }, 'stopping a redis-server left running on this data dir');
    process.kill(stale, 'SIGTERM');
    for (let i = 0; i < 100 && alive(stale); i++) await new Promise((r) => setTimeout(r, 50));
  }
  const port = opts.port ?? (await freePort());
  const child = spawn(
    bin,
    [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', path.resolve(dir),
      '--appendonly', 'yes',
      '--appendfsync', 'everysec',
      '--save', '',
      '--daemonize', 'no',
      '--protected-mode', 'yes',
      '--loglevel', 'warning',
    ],
    // Its own process group: a Ctrl-C in the terminal (SIGINT to the foreground group) must not
    // stop Redis while the service is still draining into it; stop() ends it last.
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  child.stderr?.on('data', (d: Buffer) => log.warn({ stderr: d.toString().trim() }, 'redis-server'));
  await waitForPort(port, child, 15_000);
  await writeFile(pidFile, String(child.pid));
  const url = `redis://127.0.0.1:${port}`;
  log.info({ url, dir }, `[redis] started local redis-server`);
  return {
    url,
    port,
    process: child,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(pidFile, { force: true });
    },
  };
}
