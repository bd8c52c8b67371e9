/**
 * Runs one named phase of the bench: skipped when `--only` leaves it out, when a service process
 * died or when the run passed its deadline (each skip noted); a failure is noted, not thrown.
 * Around it, how much CPU other processes used (contention) and where Redis spent its time.
 */
import { readFileSync } from 'node:fs';
import type { BenchContext } from './context.js';
import { cpuSeconds, machineCpu } from './proc.js';
import { round } from './report.js';

export interface PhaseLog {
  /** Share of the machine's CPU used by processes other than this bench, per phase. */
  contention: Record<string, number>;
  /** Per phase: the Redis commands that took most of its time (the scripts are `evalsha`). */
  redisTop: Record<string, { command: string; calls: number; ms: number; usPerCall: number }[]>;
}

/** CPU seconds of the harness and every child it has waited for (the load processes). */
export function selfCpu(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
}

/** Redis time per command so far (from INFO commandstats), to say where Redis spent a phase. */
async function redisCommandUsec(ctx: BenchContext): Promise<Map<string, { calls: number; usec: number }>> {
  const out = new Map<string, { calls: number; usec: number }>();
  for (const line of ((await ctx.redis.info('commandstats')) as string).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

/** Run a phase by name (see the file's header). */
export type PhaseRun = <T>(name: string, fn: (ctx: BenchContext) => Promise<T>) => Promise<T | undefined>;

export function phaseRunner(ctx: BenchContext): PhaseLog & { run: PhaseRun } {
  const contention: PhaseLog['contention'] = {};
  const redisTop: PhaseLog['redisTop'] = {};
  const { log, notes } = ctx;
  async function run<T>(name: string, fn: (ctx: BenchContext) => Promise<T>): Promise<T | undefined> {
    if (ctx.opts.only && !ctx.opts.only.includes(name)) return undefined;
    if (ctx.lostProcess) {
      notes.push(`phase ${name} skipped: ${ctx.lostProcess}`);
      log(`skip ${name} (${ctx.lostProcess})`);
      return undefined;
    }
    if (Date.now() > ctx.deadline) {
      notes.push(`phase ${name} skipped: the run passed its deadline`);
      log(`skip ${name} (deadline)`);
      return undefined;
    }
    log(`phase ${name}`);
    const pids = () => [...ctx.procs.map((p) => p.pid), ctx.redisLocal.pid!];
    const ours0 = pids().reduce((n, pid) => n + cpuSeconds(pid), 0) + selfCpu();
    const m0 = machineCpu();
    const r0 = await redisCommandUsec(ctx);
    try {
      return await fn(ctx);
    } catch (err) {
      log(`phase ${name} failed: ${(err as Error).stack ?? String(err)}`);
      notes.push(`phase ${name} failed: ${(err as Error).message}`);
      return undefined;
    } finally {
      const m1 = machineCpu();
      const ours = pids().reduce((n, pid) => n + cpuSeconds(pid), 0) + selfCpu() - ours0;
      const total = m1.total - m0.total;
      if (total > 0) contention[name] = round(Math.max(0, (m1.busy - m0.busy - ours) / total), 2);
      log(`phase ${name}: machine busy ${round(m1.busy - m0.busy)} CPU-s of ${round(total)}, this bench ${round(ours)} CPU-s`);
      const r1 = await redisCommandUsec(ctx).catch(() => new Map<string, { calls: number; usec: number }>());
      redisTop[name] = [...r1]
        .map(([command, v]) => ({ command, calls: v.calls - (r0.get(command)?.calls ?? 0), usec: v.usec - (r0.get(command)?.usec ?? 0) }))
        .filter((x) => x.calls > 0)
        .sort((a, b) => b.usec - a.usec)
        .slice(0, 5)
        .map((x) => ({ command: x.command, calls: x.calls, ms: Math.round(x.usec / 1000), usPerCall: round(x.usec / x.calls, 1) }));
    }
  }
  return { contention, redisTop, run };
}
