/**
 * `npm run bench`: the service's figures under load, each beside a plain baseline measured in
 * the same run, written to `bench/results/latest.json` and `bench/results/latest.md`.
 *
 * Shape: a private redis-server; the service as separate processes with one role each (store:
 * chdb served over ClickHouse's HTTP interface; gateway; worker), started with
 * `node --import tsx app/main.ts`, LOG_LEVEL=info and otherwise default settings (TRUST_PROXY
 * on, as behind a load balancer, so the load can come from many client addresses); load from
 * separate processes on loopback (bench/load/). Bounded: every phase has a fixed duration or
 * count, and the whole run a deadline (phases that would pass it are skipped and say so).
 * The sustained phase runs the `npm start` shape instead: one process with every role and its own
 * private redis-server.
 * The phases are in bench/phases/, run here in order; what they share is `BenchContext`
 * (bench/lib/context.ts).
 *
 * `npm run bench -- --quick` is a short smoke run written to `test-results/bench-quick.*`;
 * `--only=flush,queries` runs some phases (to `test-results/bench-partial.*`);
 * `--keep` keeps the temp directory (logs) for inspection.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setUp, type RunOptions } from './lib/context.js';
import { phaseRunner } from './lib/phase.js';
import { REPO } from './lib/proc.js';
import { renderMarkdown, round, type BenchResult } from './lib/report.js';
import { e2eLatency } from './phases/e2e-latency.js';
import { flush } from './phases/flush.js';
import { ingest } from './phases/ingest.js';
import { presenceWithWorker } from './phases/presence-with-worker.js';
import { presence } from './phases/presence.js';
import { redisCost } from './phases/redis-cost.js';
import { queries } from './phases/queries.js';
import { sustained } from './phases/sustained.js';

const opts: RunOptions = {
  quick: process.argv.includes('--quick'),
  only: process.argv
    .find((a) => a.startsWith('--only='))
    ?.slice('--only='.length)
    .split(','),
  keep: process.argv.includes('--keep'),
  started: Date.now(),
};
const loadStart = os.loadavg().map((x) => Math.round(x * 100) / 100);

const ctx = await setUp(opts);
process.on('SIGINT', () => {
  void ctx.cleanup().then(() => process.exit(130));
});
const phases = phaseRunner(ctx);

await ingest(ctx, phases.run);
await phases.run('redis-cost', redisCost);
await phases.run('presence', presence);
await phases.run('flush', flush);
await phases.run('e2e-latency', e2eLatency);
await phases.run('presence-with-worker', presenceWithWorker);
await phases.run('sustained', sustained);
await phases.run('queries', queries);

ctx.rss.stop();
const { S, figures, notes, lostProcess } = ctx;
const result: BenchResult = {
  generatedAt: new Date().toISOString(),
  command: `npm run bench${
    opts.quick || opts.only
      ? ` -- ${process.argv
          .slice(2)
          .filter((a) => a !== '--keep')
          .join(' ')}`
      : ''
  }`,
  mode: opts.quick ? 'quick' : 'full',
  durationS: round((Date.now() - opts.started) / 1000),
  machine: {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim(),
    memGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    redis: `redis-server ${/v=(\S+)/.exec(spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? '?'}`,
    loadavgStart: loadStart,
    loadavgEnd: os.loadavg().map((x) => round(x, 2)),
  },
  setup: {
    processes:
      'redis-server; store (ROLES=store, chdb) ; gateway (ROLES=gateway); worker (ROLES=worker) — each `node --import tsx app/main.ts`; the sustained phase: one process with every role and its own private redis-server (the `npm start` shape)',
    settings: 'defaults (LOG_LEVEL=info: one log line per accepted event), TRUST_PROXY=true with 5,000 client addresses in X-Forwarded-For',
    load: `ingest: wrk (bench/load/wrk-ingest.lua), ${S.connections} keep-alive connections, a fresh event id per event; presence and end-to-end: bench/load/http-load.ts at a fixed rate (open loop), one request in flight per connection`,
    ...S,
  },
  figures,
  contention: phases.contention,
  diagnostics: { redisTop: phases.redisTop },
  notes: lostProcess ? [`the run is incomplete: ${lostProcess}`, ...notes] : notes,
};
// Only a full run replaces the committed results the README quotes; quick and partial (--only)
// runs go to the untracked test-results/.
const outBase =
  opts.only || opts.quick ? path.join(REPO, 'test-results', opts.only ? 'bench-partial' : 'bench-quick') : path.join(REPO, 'bench/results/latest');
mkdirSync(path.dirname(outBase), { recursive: true });
writeFileSync(`${outBase}.json`, `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(`${outBase}.md`, renderMarkdown(result));
ctx.log(`wrote ${path.relative(REPO, outBase)}.json and .md`);
process.stdout.write(renderMarkdown(result));
ctx.redis.disconnect();
await ctx.cleanup();
process.exit(0);
