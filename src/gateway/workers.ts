import { spawn, type ChildProcess } from 'node:child_process';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';

/** A process entry: the script node runs, and the node options it needs (a TypeScript loader for a .ts file). */
export interface ProcessEntry {
  file: string;
  execArgv: string[];
}

/**
 * The environment that reproduces a config (every config key is an environment variable). A
 * value parsed into an object (TRUST_PROXY's ranges) is taken from this process's environment.
 */
function envOf(config: Config): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(config) as [string, unknown][]) {
    if (v === undefined) continue;
    if (Array.isArray(v)) out[k] = v.join(',');
    else if (v !== null && typeof v === 'object') {
      const hops = (v as { kind?: string; hops?: number }).kind === 'hops' ? (v as { hops: number }).hops : undefined;
      const raw = hops !== undefined ? String(hops) : process.env[k];
      if (raw === undefined) throw new Error(`GATEWAY_WORKERS: ${k} cannot be handed to the other gateway processes; set it in the environment`);
      out[k] = raw;
    } else out[k] = String(v);
  }
  return out;
}

export interface GatewayWorkersOptions {
  /** Worker processes to run beside this one. */
  count: number;
  config: Config;
  /** What each worker runs: the service's process entry, told to start the gateway role alone. */
  entry: ProcessEntry;
  /** The port this process's gateway is bound to: the workers listen on it too (SO_REUSEPORT). */
  port: number;
  redisUrl?: string;
  /** ClickHouse for the workers (chdb opens in one process only: the store's URL or a server). */
  clickhouseUrl: string;
  log: Logger;
}

const RESTART_MS = 1000;
const RESTART_MAX_MS = 30_000;
const START_TIMEOUT_MS = 60_000;

/**
 * More cores for the gateway (GATEWAY_WORKERS): this process supervises extra gateway
 * processes on the same port; the kernel spreads connections between them (SO_REUSEPORT).
 * Each is a whole gateway (ingest with its own group commit, live feeds, admin API) on the
 * same Redis, so presence stays exact and every feed sees every diff, as with replicas behind
 * a balancer. A worker that dies is started again; stop() ends them all.
 */
export class GatewayWorkers {
  readonly #children = new Set<ChildProcess>();
  #stopping = false;

  constructor(private readonly opts: GatewayWorkersOptions) {}

  /** Resolves once every worker says it is up. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.opts.count }, (_, i) => this.#spawn(i + 1, RESTART_MS)));
  }

  pids(): number[] {
    return [...this.#children].map((c) => c.pid!).filter(Boolean);
  }

  #spawn(index: number, backoff: number): Promise<void> {
    const { config, entry, port, redisUrl, clickhouseUrl, log } = this.opts;
    const { file, execArgv } = entry;
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      ...envOf(config),
      ROLES: 'gateway',
      GATEWAY_WORKERS: '1',
      GATEWAY_SHARED_PORT: 'true',
      PORT: String(port),
      CLICKHOUSE_URL: clickhouseUrl,
      ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    };
    const child = spawn(process.execPath, [...execArgv, file], { env, stdio: ['ignore', 'inherit', 'pipe'] });
    this.#children.add(child);
    return new Promise((resolve, reject) => {
      let up = false;
      let tail = '';
      const timer = setTimeout(() => reject(new Error(`gateway worker ${index} did not start within ${START_TIMEOUT_MS} ms:\n${tail}`)), START_TIMEOUT_MS);
      child.stderr!.on('data', (d: Buffer) => {
        process.stderr.write(d);
        if (up) return;
        tail = (tail + d.toString()).slice(-4000);
        if (tail.includes('visitor service up')) {
          up = true;
          clearTimeout(timer);
          log.info({ worker: index, pid: child.pid, port }, '[gateway-workers] worker up');
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        this.#children.delete(child);
        clearTimeout(timer);
        if (!up) {
          reject(new Error(`gateway worker ${index} exited during start (${code ?? signal}):\n${tail}`));
          return;
        }
        if (this.#stopping) return;
        log.error({ worker: index, code, signal, restartInMs: backoff }, '[gateway-workers] worker exited; starting it again');
        setTimeout(() => {
          if (this.#stopping) return;
          this.#spawn(index, Math.min(backoff * 2, RESTART_MAX_MS)).catch((err: unknown) =>
            log.error({ err, worker: index }, '[gateway-workers] restart failed'),
          );
        }, backoff).unref();
      });
    });
  }

  /** SIGTERM every worker (each drains as on its own SIGTERM); SIGKILL after the drain deadline. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      [...this.#children].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill('SIGKILL'), this.opts.config.SHUTDOWN_TIMEOUT_MS + 1000);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
  }
}
