/**
 * Real service processes for the fault and scale-out tests: `node --import tsx app/main.ts` with
 * the environment of an in-test service (same accounts, Redis prefix and ClickHouse database),
 * reaching its store over `CLICKHOUSE_URL`, with one role set each (gateway, worker). Also a
 * private redis-server cluster on loopback. Both build on `test/support/services.ts`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/adapters/redis/launcher.js';
import type { TestService } from './services.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Variables of the service that a child must not inherit from the test runner's own environment. */
const SERVICE_VARS =
  /^(PORT|HOST|GATEWAY_|DATA_DIR|REDIS_URL|REDIS_CLUSTER_NODES|CLICKHOUSE_|STORE_PORT|ACCOUNTS_FILE|ROLES|REDIS_PREFIX|REDIS_MAX_RESTARTS|LOG_LEVEL|FLUSH_|RECLAIM_|RATE_LIMIT_|STREAM_CAP|TRUST_PROXY|MAX_BODY_BYTES|SHUTDOWN_|JOB_|PRESENCE_|LIVE_|TOKEN_)/;

export interface ServiceProcess {
  pid: number;
  child: ChildProcess;
  /** Gateway URL when the process runs the gateway role. */
  url?: string;
  /** Store URL when it runs the store role. */
  storeUrl?: string;
  logFile: string;
  logs(): Record<string, unknown>[];
  messages(): string[];
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  exited: Promise<number | string>;
  /** kill -9: no shutdown, no drain. */
  crash(): Promise<number | string>;
  /** SIGTERM and wait (SIGKILL after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<number | string>;
}

export interface ServiceProcessOptions {
  /** Environment on top of the base service's (ROLES at least). */
  env: Record<string, string>;
  /** Where the child's stdout (its JSON log) goes. @defaultValue a file in the base data dir */
  logFile?: string;
  /** @defaultValue 45000 */
  startTimeoutMs?: number;
}

/**
 * Start a service process sharing `base`'s namespace. Unless `env` says otherwise it reaches
 * Redis at `base.service.redisUrl` and ClickHouse at `base.service.storeUrl` (so `base` should
 * run the `store` role), and it shares `base.dataDir` (credentials live there, as in production
 * where every process mounts the same data volume).
 */
export async function startServiceProcess(base: TestService, opts: ServiceProcessOptions): Promise<ServiceProcess> {
  const inherited = cleanEnv();
  const fromBase = Object.fromEntries(Object.entries(base.env).filter(([k]) => k !== 'CLICKHOUSE_DATA_PATH'));
  const env: Record<string, string> = {
    ...inherited,
    ...fromBase,
    ...(base.service.config.REDIS_CLUSTER_NODES ? {} : { REDIS_URL: base.service.redisUrl }),
    ...(base.service.storeUrl ? { CLICKHOUSE_URL: base.service.storeUrl } : {}),
    PORT: '0',
    HOST: '127.0.0.1',
    STORE_PORT: '0',
    ...opts.env,
  };
  const logFile = opts.logFile ?? path.join(base.dataDir, `proc-${(env.ROLES ?? 'all').replace(/,/g, '+')}-${randomBytes(3).toString('hex')}.log`);
  return spawnService(env, logFile, opts.startTimeoutMs);
}

/** The runner's environment without any of the service's own variables. */
export function cleanEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !SERVICE_VARS.test(k))) as Record<string, string>;
}

/**
 * A service process of its own, sharing nothing with an in-test service: `env` on top of a clean
 * environment (so without REDIS_URL it starts its private Redis, without CLICKHOUSE_URL its chdb).
 * `command` replaces `node --import tsx app/main.ts` (e.g. `npm start`).
 */
export function startInstanceProcess(opts: {
  env: Record<string, string>;
  logFile: string;
  startTimeoutMs?: number;
  command?: string[];
  /** `pipe`: the service's stdin is a pipe the test may write to (`child.stdin`), as under a supervisor. @defaultValue ignore */
  stdin?: 'ignore' | 'pipe';
}): Promise<ServiceProcess> {
  return spawnService({ ...cleanEnv(), ...opts.env }, opts.logFile, opts.startTimeoutMs, opts.command, opts.stdin);
}

async function spawnService(
  env: Record<string, string>,
  logFile: string,
  startTimeoutMs = 45_000,
  command?: string[],
  stdin: 'ignore' | 'pipe' = 'ignore',
): Promise<ServiceProcess> {
  const fd = openSync(logFile, 'a');
  const [bin, ...args] = command ?? [process.execPath, '--import', 'tsx', path.join(REPO_ROOT, 'app/main.ts')];
  const child = spawn(bin!, args, {
    cwd: REPO_ROOT,
    env,
    stdio: [stdin, fd, 'pipe'],
  });
  closeSync(fd);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const up = await new Promise<{ url?: string; storeUrl?: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service process (${env.ROLES}) did not start within ${startTimeoutMs} ms:\n${stderr}`)), startTimeoutMs);
    const check = () => {
      const at = stderr.indexOf('visitor service up');
      if (at < 0 || !/REDIS_URL=\S+\n/.test(stderr.slice(at))) return;
      clearTimeout(timer);
      child.stderr!.off('data', check);
      const text = stderr.slice(at);
      resolve({ url: /gateway\s+(http:\/\/\S+)/.exec(text)?.[1], storeUrl: /CLICKHOUSE_URL=(http:\/\/\S+)/.exec(text)?.[1] });
    };
    child.stderr!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`service process (${env.ROLES}) exited with ${code} during start:\n${stderr}`));
    });
  });
  const readLogs = () =>
    readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    return exited;
  };
  return {
    pid: child.pid!,
    child,
    ...up,
    logFile,
    logs: readLogs,
    messages: () => readLogs().map((l) => String(l.msg ?? '')),
    exited,
    crash: () => signal('SIGKILL'),
    stop: async (timeoutMs = 15_000) => {
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await signal('SIGTERM');
      clearTimeout(t);
      return code;
    },
  };
}

export interface RedisClusterNodes {
  /** `host:port` of each master, for REDIS_CLUSTER_NODES. */
  nodes: string[];
  stop(): Promise<void>;
}

function redisCli(args: string[]): string {
  const r = spawnSync('redis-cli', args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** A 3-master Redis Cluster of redis-server processes on free loopback ports (no replicas). */
export async function startRedisCluster(masters = 3): Promise<RedisClusterNodes> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'visitor-test-cluster-'));
  const ports: number[] = [];
  while (ports.length < masters) {
    const p = await freePort();
    // The cluster bus listens on port + 10000: keep both free and distinct.
    if (p < 55_000 && !ports.includes(p)) ports.push(p);
  }
  const children: ChildProcess[] = [];
  for (const port of ports) {
    const d = path.join(dir, String(port));
    await mkdir(d, { recursive: true });
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        d,
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        '5000',
        '--appendonly',
        'yes',
        '--save',
        '',
        '--protected-mode',
        'yes',
        '--loglevel',
        'warning',
      ],
      { stdio: 'ignore' },
    );
    children.push(child);
  }
  const stop = async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      const deadline = Date.now() + 10_000;
      while (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() !== 'PONG') {
        if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    redisCli(['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ok = ports.every((p) => /cluster_state:ok/.test(redisCli(['-p', String(p), 'cluster', 'info'])));
      if (ok) break;
      if (Date.now() > deadline) throw new Error('redis cluster did not reach cluster_state:ok');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes: ports.map((p) => `127.0.0.1:${p}`), stop };
}

export interface CliRun {
  code: number | null;
  out: string;
  err: string;
}

/** Run `bin/visitor.js` with only the environment given (none of the test runner's VISITOR_* or INIT_CWD). */
export function runVisitorCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(VISITOR_|INIT_CWD$)/.test(k))) as Record<string, string>;
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/visitor.js'), ...args], {
    cwd: REPO_ROOT,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}
