import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { loadScripts } from '../src/adapters/redis/scripts.ts';
const port = Number(process.argv[2]);
const r = new Redis(`redis://127.0.0.1:${port}`, { enableAutoPipelining: true });
const pid = Number((await r.info('server')).match(/process_id:(\d+)/)![1]);
const cpu = () => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) * 10_000; };
const ic = loadScripts().find((s) => s.name === 'ingestCommit')!.lua;
const bodyOnly = ic.replace(/--\[\[[\s\S]*?\]\]/g, '');
for (const [name, lua] of [['return 1', 'return 1'], ['ingest-commit full text', ic], ['ingest-commit no comments', bodyOnly], ['xadd only', "redis.call('XADD', KEYS[1], '*', 't', 'e', 'r', ARGV[1]) return 1"]] as const) {
  const sha = (await r.script('LOAD', lua)) as string;
  const c0 = cpu();
  for (let i = 0; i < 20000; i += 200) await Promise.all(Array.from({ length: 200 }, () => r.evalsha(sha, 3, 'v:{b}:events', 'v:{b}:p', 'v:{b}:eid:x' + i, 10000000, 600, 'ch', 1, 1, 1, 1, 0, 'events', '{"a":1}', '-')));
  console.log(`${name}: ${((cpu() - c0) / 20000).toFixed(1)} µs/call`);
}
r.disconnect();
