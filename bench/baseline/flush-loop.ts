/**
 * The plain baseline for the flush figures: the insert loop the flusher was before it sent rows
 * as their stored text (each row parsed, the same ClickHouse client's `insert` of JSONEachRow
 * objects serialising it again, batches of 10,000) from a Redis stream, deleting what it
 * inserted. No consumer group, no acknowledgement, no replay check, no filters, no metrics or
 * log line. The service's figures beside it come from the same rows in the same run.
 *
 * Usage: node --import tsx bench/baseline/flush-loop.ts '<JSON options>'
 *   mode "drain":  insert everything in the stream, print { rows, ms } and exit;
 *   mode "follow": read as rows arrive, batch by size or age, until SIGTERM.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createClickHouse } from '../../src/adapters/clickhouse/client.js';

interface Options {
  mode: 'drain' | 'follow';
  redisUrl: string;
  stream: string;
  clickhouseUrl: string;
  database: string;
  batchSize: number;
  intervalMs: number;
  /** @defaultValue events */
  table?: string;
}

const o = JSON.parse(process.argv[2] ?? '{}') as Options;
const redis = new Redis(o.redisUrl);
const ch = await createClickHouse({ url: o.clickhouseUrl, dataPath: '', database: o.database });

type Entries = [string, string[]][];

function rowsOf(entries: Entries): Record<string, unknown>[] {
  return entries.map(([, f]) => JSON.parse(f[f.indexOf('r') + 1]!) as Record<string, unknown>);
}

if (o.mode === 'drain') {
  let rows = 0;
  let started = 0;
  for (;;) {
    const entries = (await redis.xrange(o.stream, '-', '+', 'COUNT', o.batchSize)) as Entries;
    if (!entries.length) break;
    if (!started) started = performance.now();
    await ch.insert({ table: o.table ?? 'events', values: rowsOf(entries), format: 'JSONEachRow' });
    await redis.xdel(o.stream, ...entries.map(([id]) => id));
    rows += entries.length;
  }
  process.stdout.write(`${JSON.stringify({ rows, ms: Math.round(performance.now() - started) })}\n`);
  redis.disconnect();
  await ch.close();
  process.exit(0);
} else {
  let running = true;
  process.on('SIGTERM', () => (running = false));
  process.stdout.write('following\n');
  let last = '$';
  let buffer: Entries = [];
  let oldest = 0;
  while (running) {
    const wait = buffer.length ? Math.max(1, o.intervalMs - (performance.now() - oldest)) : 500;
    const res = (await redis.xread('COUNT', o.batchSize, 'BLOCK', Math.ceil(wait), 'STREAMS', o.stream, last)) as [string, Entries][] | null;
    const fresh = res?.[0]?.[1] ?? [];
    if (fresh.length) {
      if (!buffer.length) oldest = performance.now();
      buffer = buffer.concat(fresh);
      last = fresh[fresh.length - 1]![0];
    }
    if (buffer.length && (buffer.length >= o.batchSize || performance.now() - oldest >= o.intervalMs)) {
      await ch.insert({ table: o.table ?? 'events', values: rowsOf(buffer), format: 'JSONEachRow' });
      await redis.xdel(o.stream, ...buffer.map(([id]) => id));
      buffer = [];
    }
    if (!fresh.length && !buffer.length) await sleep(1);
  }
  redis.disconnect();
  await ch.close();
  process.exit(0);
}
