import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { defineScripts } from '../src/adapters/redis/scripts.ts';
const port = Number(process.argv[2]);
const r = new Redis(`redis://127.0.0.1:${port}`, { enableAutoPipelining: true });
defineScripts(r);
const pid = Number((await r.info('server')).match(/process_id:(\d+)/)![1]);
const cpu = () => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) * 10_000; };
const row = JSON.stringify({ account_id: 'b', event_id: 'x', ts: '2026-01-01 00:00:00.000', type: 'pageview', path: '/listings/1-high-st', url: 'https://bench.example/listings/1', title: '12 High Street, a two-bedroom flat', referrer: 'https://www.google.com/', ua_family: 'Chrome', device: 'desktop' });
let eid = 0;
async function run(name: string, n: number, perCall: number, ev: (i: number) => string[] | null) {
  await r.config('RESETSTAT');
  const c0 = cpu(); const t0 = performance.now();
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < n; i += perCall) {
    const keys = ['v:{b}:events', 'v:{b}:presence'];
    const args: (string | number)[] = [10_000_000, 600, 'v:{b}:presence:diffs', 45000, 3000, 3600000, perCall];
    for (let k = 0; k < perCall; k++) {
      keys.push(`v:{b}:eid:${eid++}`);
      args.push(1, keys.length, 'events', row);
      const p = ev(i + k);
      if (p) args.push('P', ...p); else args.push('-');
    }
    calls.push((r as any).ingestCommit(keys.length, ...keys, ...args));
    if (calls.length >= 8) { await Promise.all(calls); calls.length = 0; }
  }
  await Promise.all(calls);
  const us = cpu() - c0;
  const st = ((await r.info('commandstats')) as string).split('\n').filter((l) => l.startsWith('cmdstat_')).map((l) => { const m = /cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(l)!; return `${m[1]}=${(Number(m[2]) / n).toFixed(2)}/${(Number(m[3]) / n).toFixed(1)}us`; }).join(' ');
  console.log(st);
  console.log(`${name}: ${(us / n).toFixed(1)} µs redis CPU/event, ${(n / ((performance.now() - t0) / 1000)).toFixed(0)} ev/s`);
}
const pres = (t: string, v: string, s: string, p: string) => [t, v, s, p, 'Title', 'Chrome', 'desktop', '', '', '', 'id', '', '0', '', '0'];
await r.del('v:{b}:events');
{
  await r.config('RESETSTAT');
  const c0 = cpu();
  for (let i = 0; i < 20000; i += 200) await Promise.all(Array.from({ length: 200 }, () => r.xadd('bl', '*', 't', 'events', 'r', row)));
  console.log(`plain XADD pipelined: ${((cpu() - c0) / 20000).toFixed(1)} µs redis CPU/event`);
}
await run('no presence, 1/call', 5000, 1, () => null);
await run('no presence, 20/call', 20000, 20, () => null);
await run('joins, 20/call', 20000, 20, (i) => pres('pageview', `v${i}`, `s${i}`, `/p/${i % 500}`));
await run('pageview known, 20/call', 20000, 20, (i) => pres('pageview', `v${i}`, `s${i}`, `/p/${i % 500}`));
await run('heartbeat known, 20/call', 20000, 20, (i) => pres('heartbeat', `v${i}`, `s${i}`, `/p/${i % 500}`));
r.disconnect();
