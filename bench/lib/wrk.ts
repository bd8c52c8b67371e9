/**
 * Closed-loop HTTP load from wrk (a C generator: its own CPU cost is small beside a Node one).
 * The bench installs Debian's package when it is missing; the tests never need it.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO } from './proc.js';

/** wrk on the PATH, installing Debian's package if needed (the bench may run as root on a fresh machine). */
export function ensureWrk(log: (m: string) => void): void {
  if (spawnSync('wrk', ['--version']).error === undefined) return;
  log('wrk is missing: apt-get install -y wrk');
  const root = process.getuid?.() === 0;
  const run = (args: string[]) => spawnSync(root ? 'apt-get' : 'sudo', root ? args : ['apt-get', ...args], { stdio: 'inherit' });
  run(['update']);
  const r = run(['install', '-y', 'wrk']);
  if (r.status !== 0 || spawnSync('wrk', ['--version']).error !== undefined)
    throw new Error('wrk is not installed and apt-get could not install it (apt-get install wrk)');
}

export interface WrkResult {
  requests: number;
  /** Answered requests per second (2xx and others). */
  rps: number;
  /** Requests answered with a status of 400 or more (wrk counts them as errors). */
  non2xx: number;
  socketErrors: number;
  durationS: number;
  latencyMs: { p50: number; p99: number; max: number };
}

export interface WrkSpec {
  port: number;
  connections: number;
  threads?: number;
  durationS: number;
  /** Events per request (1 = a single event object). */
  batch: number;
  account: string;
  sessions?: number;
  clientIps?: number;
}

/** Run bench/load/wrk-ingest.lua against POST /v/event and parse its summary line. */
export function runWrk(spec: WrkSpec): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'wrk',
      [
        `-t${spec.threads ?? 1}`,
        `-c${spec.connections}`,
        `-d${spec.durationS}s`,
        '--timeout',
        '10s',
        '-s',
        path.join(REPO, 'bench/load/wrk-ingest.lua'),
        `http://127.0.0.1:${spec.port}/v/event`,
      ],
      {
        env: {
          ...process.env,
          WRK_ACCOUNT: spec.account,
          WRK_BATCH: String(spec.batch),
          WRK_SESSIONS: String(spec.sessions ?? 20_000),
          WRK_IPS: String(spec.clientIps ?? 5000),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('WRK '));
      if (code !== 0 || !line) {
        reject(new Error(`wrk exited ${code}: ${out.slice(-500)}`));
        return;
      }
      const r = JSON.parse(line.slice(4)) as {
        requests: number;
        durationUs: number;
        errors: { connect: number; read: number; write: number; status: number; timeout: number };
        latencyUs: { p50: number; p99: number; max: number };
      };
      const durationS = r.durationUs / 1e6;
      resolve({
        requests: r.requests,
        rps: Math.round(r.requests / durationS),
        non2xx: r.errors.status,
        socketErrors: r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout,
        durationS: Math.round(durationS * 10) / 10,
        latencyMs: { p50: r.latencyUs.p50 / 1000, p99: r.latencyUs.p99 / 1000, max: r.latencyUs.max / 1000 },
      });
    });
  });
}
