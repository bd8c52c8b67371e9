import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { mkdir, readFile, writeFile, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { lockDir, DirLockedError, type DirLock } from '../fs/dir-lock.js';
import { readOrCreateSecret } from '../secrets/token-secret.store.js';
import type { Logger } from '../../logger.js';

export const REDIS_INSTALL_HINT = 'apt-get install -y redis-server';

/** How a private redis-server that exits on its own is brought back. */
export interface RedisSupervision {
  /** Delay before the first restart; doubled for each further restart within the window. @defaultValue 100 */
  restartDelayMs?: number;
  /** @defaultValue 5000 */
  maxRestartDelayMs?: number;
  /**
   * Restarts allowed within `restartWindowMs`. One more is a crash loop (a corrupt AOF, a port
   * taken by another program): the supervisor gives up and `failure` says why. @defaultValue 10
   */
  maxRestarts?: number;
  /** @defaultValue 60000 */
  restartWindowMs?: number;
}

/** `up`: serving; `restarting`: exited unexpectedly, being brought back; `failed`: given up; `stopped`: by `stop()`. */
export type LocalRedisState = 'up' | 'restarting' | 'failed' | 'stopped';

export interface LocalRedis {
  url: string;
  port: number;
  /** The current redis-server's pid (a restart changes it). */
  readonly pid: number | undefined;
  readonly state: LocalRedisState;
  /** Unexpected exits so far. */
  readonly restarts: number;
  /** Why it is not serving right now (for readiness), or undefined while up. */
  readonly problem: string | undefined;
  /** Why it cannot recover (for liveness), or undefined while it can. */
  readonly failure: string | undefined;
  /** Stop it for good (SIGTERM, then SIGKILL after 5 s); no restart follows. */
  stop(): Promise<void>;
  /** Last resort while this process exits: SIGTERM, no waiting (Redis writes its AOF on its own). */
  kill(): void;
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
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server exited with ${child.exitCode ?? child.signalCode}`);
    // Whatever answers must be a Redis: another program on the port may close without a word.
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.setTimeout(1000, () => s.destroy());
      s.once('connect', () => s.write('PING\r\n'));
      s.once('data', (d) => {
        s.destroy();
        // A password-protected Redis answers an unauthenticated PING with NOAUTH: still a Redis.
        resolve(/^(\+PONG|-NOAUTH)/.test(d.toString()));
      });
      s.on('error', () => undefined); // 'close' follows
      s.once('close', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server did not answer on port ${port} within ${timeoutMs} ms`);
}

/**
 * Whether `pid` is a redis-server working in `dir` (Redis chdirs to its `--dir`; it rewrites its
 * own argv, so the command line cannot tell). A pid from an old pid file may have been reused by
 * anything else since.
 */
function isRedisServerIn(pid: number, dir: string): boolean {
  try {
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    return comm.startsWith('redis-server') && readlinkSync(`/proc/${pid}/cwd`) === realpathSync(dir);
  } catch {
    return false;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const LAUNCHER_LOCK_FILE = 'launcher.lock';

/**
 * Start a private redis-server on a loopback port (free, or `opts.port`), persisting under `dir`
 * (AOF, fsync every second: what Redis acknowledged survives its own crash) and supervise it:
 * when it exits unexpectedly it is started again on the same port and directory, after a delay
 * that doubles with each restart in the window, until `maxRestarts` say it cannot recover.
 *
 * The launcher holds `dir/launcher.lock` while it runs. A redis-server found working in `dir`
 * while that lock is free was left by a launcher that died (kill -9 of the service leaves its
 * Redis running) and is stopped, since two servers must not share one AOF; a directory whose lock
 * is held belongs to a live process and is refused, never touched.
 */
export interface LocalRedisOptions {
  port?: number;
  supervision?: RedisSupervision;
  /**
   * The password file (created 0600 on first start, kept across restarts). Loopback is not a
   * boundary against other local users: without a password any process on the machine could
   * read the event streams or queue jobs. @defaultValue `dir/password`
   */
  passwordFile?: string;
}

export async function startLocalRedis(dir: string, log: Logger, opts: LocalRedisOptions = {}): Promise<LocalRedis> {
  const bin = findRedisServer();
  if (!bin) throw new Error(`redis-server is not installed and REDIS_URL is unset: install it with \`${REDIS_INSTALL_HINT}\``);
  await mkdir(dir, { recursive: true });
  let lock: DirLock;
  try {
    lock = await lockDir(dir, LAUNCHER_LOCK_FILE, { pid: process.pid });
  } catch (err) {
    if (err instanceof DirLockedError)
      throw new Error(`the Redis directory ${err.dir} is supervised by another live process (pid ${err.holder?.pid ?? '?'}); not touching it`);
    throw err;
  }
  const pidFile = path.join(dir, 'redis.pid');
  try {
    const stale = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
    if (stale > 0 && isRedisServerIn(stale, dir)) {
      log.warn({ redisPid: stale }, '[redis] stopping a redis-server left running on this data dir by a launcher that died');
      process.kill(stale, 'SIGTERM');
      for (let i = 0; i < 100 && alive(stale); i++) await new Promise((r) => setTimeout(r, 50));
      if (alive(stale)) process.kill(stale, 'SIGKILL');
    }
    const port = opts.port ?? (await freePort());
    const password = (await readOrCreateSecret(opts.passwordFile ?? path.join(dir, 'password'))).toString('hex');
    // The password goes in a config file only the service's user reads, not on the command line
    // (which every local user sees in /proc/<pid>/cmdline).
    const conf = path.join(dir, 'redis.conf');
    await writeFile(conf, `requirepass ${password}\n`, { mode: 0o600 });
    const supervisor = new RedisSupervisor(bin, path.resolve(dir), port, password, conf, pidFile, lock, log, opts.supervision ?? {});
    await supervisor.start();
    return supervisor;
  } catch (err) {
    lock.release();
    throw err;
  }
}

class RedisSupervisor implements LocalRedis {
  readonly url: string;
  #child?: ChildProcess;
  #state: LocalRedisState = 'restarting';
  #failure?: string;
  #restarts = 0;
  /** Start times of the restarts within the window. */
  #recent: number[] = [];
  #downSince = 0;
  #timer?: NodeJS.Timeout;
  #stopping?: Promise<void>;
  readonly #restartDelayMs: number;
  readonly #maxRestartDelayMs: number;
  readonly #maxRestarts: number;
  readonly #windowMs: number;

  constructor(
    private readonly bin: string,
    private readonly dir: string,
    readonly port: number,
    password: string,
    private readonly conf: string,
    private readonly pidFile: string,
    private readonly lock: DirLock,
    private readonly log: Logger,
    s: RedisSupervision,
  ) {
    this.url = `redis://:${password}@127.0.0.1:${port}`;
    this.#restartDelayMs = s.restartDelayMs ?? 100;
    this.#maxRestartDelayMs = s.maxRestartDelayMs ?? 5_000;
    this.#maxRestarts = s.maxRestarts ?? 10;
    this.#windowMs = s.restartWindowMs ?? 60_000;
  }

  get pid() {
    return this.#child?.pid;
  }
  get state() {
    return this.#state;
  }
  get restarts() {
    return this.#restarts;
  }
  get failure() {
    return this.#failure;
  }
  get problem() {
    if (this.#state === 'up') return undefined;
    if (this.#state === 'failed') return `redis-server is down for good: ${this.#failure}`;
    if (this.#state === 'stopped') return 'redis-server stopped';
    return `redis-server exited ${Date.now() - this.#downSince} ms ago; restarting it`;
  }

  /** First start: a failure is thrown to the caller, not retried. */
  async start(): Promise<void> {
    await this.#spawn();
    this.#state = 'up';
    this.log.info({ port: this.port, dir: this.dir, redisPid: this.pid }, '[redis] started local redis-server');
  }

  async #spawn(): Promise<void> {
    const child = spawn(
      this.bin,
      [
        this.conf,
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'everysec',
        '--save',
        '',
        '--daemonize',
        'no',
        '--protected-mode',
        'yes',
        '--loglevel',
        'warning',
      ],
      // Its own process group: a Ctrl-C in the terminal (SIGINT to the foreground group) must not
      // stop Redis while the service is still draining into it; stop() ends it last.
      { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
    );
    this.#child = child;
    child.stderr?.on('data', (d: Buffer) => this.log.warn({ stderr: d.toString().trim() }, 'redis-server'));
    // An unhandled 'error' would end the service; a failed spawn is reported by `spawned`.
    child.on('error', (err) => this.log.warn({ err }, '[redis] redis-server process error'));
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    let serving = false;
    child.once('exit', (code, signal) => {
      if (serving) this.#exited(child, code, signal);
    });
    try {
      await spawned;
      await waitForPort(this.port, child, 15_000);
    } catch (err) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      throw err;
    }
    serving = true;
    await writeFile(this.pidFile, String(child.pid));
  }

  #exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#stopping || child !== this.#child) return;
    this.#state = 'restarting';
    this.#downSince = Date.now();
    this.log.error({ redisPid: child.pid, code, signal }, '[redis] redis-server exited unexpectedly');
    this.#scheduleRestart();
  }

  #scheduleRestart(): void {
    const now = Date.now();
    this.#recent = this.#recent.filter((t) => now - t < this.#windowMs);
    if (this.#recent.length >= this.#maxRestarts) {
      return this.#giveUp(`${this.#recent.length} restarts within ${this.#windowMs} ms did not keep it running`);
    }
    if (!findRedisServer()) return this.#giveUp(`the redis-server binary is gone (${REDIS_INSTALL_HINT})`);
    const delayMs = Math.min(this.#restartDelayMs * 2 ** this.#recent.length, this.#maxRestartDelayMs);
    this.log.warn({ delayMs, restartsInWindow: this.#recent.length, port: this.port }, '[redis] restarting redis-server');
    this.#timer = setTimeout(() => void this.#restart(), delayMs);
  }

  async #restart(): Promise<void> {
    if (this.#stopping) return;
    this.#recent.push(Date.now());
    this.#restarts++;
    try {
      await this.#spawn();
      if (this.#stopping) return;
      this.#state = 'up';
      this.log.warn({ redisPid: this.pid, port: this.port, downMs: Date.now() - this.#downSince, restarts: this.#restarts }, '[redis] redis-server is back');
    } catch (err) {
      if (this.#stopping) return;
      this.log.error({ err, port: this.port }, '[redis] redis-server restart failed');
      this.#scheduleRestart();
    }
  }

  #giveUp(reason: string): void {
    this.#state = 'failed';
    this.#failure = reason;
    this.log.fatal({ reason, dir: this.dir, port: this.port }, '[redis] giving up on redis-server; the service is unhealthy');
  }

  stop(): Promise<void> {
    return (this.#stopping ??= (async () => {
      clearTimeout(this.#timer);
      const child = this.#child;
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      if (this.#state !== 'failed') this.#state = 'stopped';
      await rm(this.pidFile, { force: true });
      this.lock.release();
    })());
  }

  kill(): void {
    clearTimeout(this.#timer);
    this.#stopping ??= Promise.resolve();
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
}
