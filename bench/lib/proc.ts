/**
 * Processes of the bench: the service (one role set per process, `node --import tsx app/main.ts`,
 * its JSON log in a file), load generators and baselines (their result as one JSON line on
 * stdout), plus CPU and memory readings from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Proc {
  name: string;
  pid: number;
  child: ChildProcess;
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
}

function wrap(name: string, child: ChildProcess): Proc {
  const exited = new Promise<number | string>((r) => child.once('exit', (code, sig) => r(code ?? sig ?? 'unknown')));
  return {
    name,
    pid: child.pid!,
    child,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(t);
    },
  };
}

export interface ServiceProc extends Proc {
  url?: string;
  storeUrl?: string;
  /** The Redis it uses, as its start banner prints it (a private redis-server's when REDIS_URL is unset). */
  redisUrl?: string;
  logFile: string;
  /** Every JSON log line written so far. */
  logs(): Record<string, unknown>[];
}

/**
 * `BENCH_NODE_ARGS` (say `--cpu-prof --cpu-prof-dir=/tmp/prof`) go to the node of each service
 * under test, not to the bench itself: profiles of a phase are taken that way.
 */
function serviceNodeArgs(): string[] {
  return (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

/** Start `app/main.ts` with this environment; resolves once it prints that it is up. */
export async function startService(name: string, env: Record<string, string>, logFile: string, timeoutMs = 60_000): Promise<ServiceProc> {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [...serviceNodeArgs(), '--import', 'tsx', path.join(REPO, 'app/main.ts')], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', fd, 'pipe'],
  });
  closeSync(fd);
  const p = wrap(name, child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-50_000);
  });
  const up = await new Promise<{ url?: string; storeUrl?: string; redisUrl?: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not left running behind the failed phase.
      void p.stop();
      reject(new Error(`${name} did not start within ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    const check = () => {
      const at = stderr.indexOf('visitor service up');
      if (at < 0 || !/REDIS_URL=\S+\n/.test(stderr.slice(at))) return;
      clearTimeout(timer);
      const text = stderr.slice(at);
      resolve({
        url: /gateway\s+(http:\/\/\S+)/.exec(text)?.[1],
        storeUrl: /CLICKHOUSE_URL=(http:\/\/\S+)/.exec(text)?.[1],
        redisUrl: /REDIS_URL=(\S+)/.exec(text)?.[1],
      });
    };
    child.stderr!.on('data', check);
    void p.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} during start:\n${stderr}`));
    });
  });
  return {
    ...p,
    ...up,
    logFile,
    logs: () =>
      readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Start a bench script (TypeScript through tsx) that keeps running (a baseline server, subscribers). */
export function startScript(name: string, script: string, args: string[], onLine?: (line: string) => void): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, script), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      onLine?.(line);
    }
  });
  return wrap(name, child);
}

/** Wait for a line from a started script matching `re`. */
export function waitForLine(p: Proc, re: RegExp, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`${p.name}: no line matching ${re} within ${timeoutMs} ms`)), timeoutMs);
    const on = (d: Buffer) => {
      buf += d.toString();
      const m = buf.split('\n').find((l) => re.test(l));
      if (m !== undefined) {
        clearTimeout(t);
        p.child.stdout!.off('data', on);
        resolve(m);
      }
    };
    p.child.stdout!.on('data', on);
    void p.exited.then((c) => {
      clearTimeout(t);
      reject(new Error(`${p.name} exited (${c}) before printing ${re}`));
    });
  });
}

/** Run a bench script to completion and parse the last JSON line it prints. */
export async function runScript<T>(name: string, script: string, args: string[]): Promise<T> {
  let last = '';
  const p = startScript(name, script, args, (line) => {
    if (line.startsWith('{')) last = line;
  });
  const code = await p.exited;
  if (code !== 0) throw new Error(`${name} exited with ${code}`);
  if (!last) throw new Error(`${name} printed no result`);
  return JSON.parse(last) as T;
}

const TICKS = 100;

/** CPU seconds (user + system) a process has used so far; 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds of a process and every descendant still running (a gateway supervisor with its
 * worker processes).
 */
export function treeCpuSeconds(pid: number): number {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [p, pp] of parent) {
      if (!tree.has(p) && tree.has(pp)) {
        tree.add(p);
        grew = true;
      }
    }
  }
  let s = 0;
  for (const p of tree) s += cpuSeconds(p);
  return s;
}

/** Resident memory in MB; 0 when the process is gone. */
export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : 0;
  } catch {
    return 0;
  }
}

/** Busy and total CPU seconds of the whole machine so far (all cores). */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = line.reduce((a, b) => a + b, 0);
  const idle = (line[3] ?? 0) + (line[4] ?? 0);
  return { busy: (total - idle) / TICKS, total: total / TICKS };
}

/** Samples the peak RSS of some processes every `everyMs` until stopped. */
export class RssSampler {
  readonly peak = new Map<number, number>();
  #timer?: NodeJS.Timeout;
  constructor(private readonly pids: () => number[]) {}
  start(everyMs = 250): this {
    this.#timer = setInterval(() => {
      for (const pid of this.pids()) this.peak.set(pid, Math.max(this.peak.get(pid) ?? 0, rssMb(pid)));
    }, everyMs);
    this.#timer.unref();
    return this;
  }
  reset(): void {
    this.peak.clear();
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

/** CPU seconds a redis-server has used so far (every thread), from its INFO. */
export async function redisCpuSeconds(redis: { info(section: 'cpu'): Promise<string> }): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return field('used_cpu_user') + field('used_cpu_sys');
}
