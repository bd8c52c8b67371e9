/**
 * Phase `redis-cost`: Redis CPU per accepted event, the budget every ingest figure is bound by.
 * The harness appends rows through the gateway's own group commit (RowStream, calls of 32
 * requests of 20 events) into Redis, once every visitor is known so that each event takes the
 * constant path (a page view or heartbeat on the page the visitor's tab is on, nobody watching),
 * beside the baseline's Redis work for the same rows: one XADD each, pipelined.
 */
import { randomUUID } from 'node:crypto';
import { RedisKeys } from '../../src/adapters/redis/keys.js';
import { RowStream, type StreamRow } from '../../src/adapters/redis/row-stream.js';
import { defineScripts } from '../../src/adapters/redis/scripts.js';
import { presenceArg } from '../../src/domain/presence.rules.js';
import { storedEvent } from '../../src/domain/stored-event.js';
import type { BenchContext } from '../lib/context.js';
import { redisCpuSeconds } from '../lib/proc.js';
import { figure, round } from '../lib/report.js';

const VISITORS = 20_000;
const REQUESTS_PER_CALL = 32;
const EVENTS_PER_REQUEST = 20;
const PRESENCE = { ttlMs: 45_000, graceMs: 3000 };

type Shape = 'pageview' | 'heartbeat' | 'no presence';

function rowOf(account: string, shape: Shape, n: number): StreamRow {
  const s = (n * 7919) % VISITORS;
  const path = `/listings/${s % 500}-high-st`;
  const id = randomUUID();
  const type = shape === 'heartbeat' ? 'heartbeat' : 'pageview';
  const title = '12 High Street, a two-bedroom flat';
  const row = storedEvent({
    account_id: account,
    event_id: id,
    type,
    session_id: `s-${s}`,
    visitor_id: `v-${s}`,
    path,
    url: `https://bench.example${path}?utm_medium=email`,
    title,
    referrer: 'https://www.google.com/',
    ua_family: 'Chrome',
    device: 'desktop',
    referrer_host: 'www.google.com',
    channel: 'email',
  });
  const presence =
    shape === 'no presence'
      ? undefined
      : presenceArg({
          t: type,
          v: row.visitor_id,
          s: row.session_id,
          p: path,
          ti: title,
          ua: 'Chrome',
          dv: 'desktop',
          pe: '',
          sg: '',
          ps: 'listings',
          id,
          lb: '',
          dp: 0,
          ls: '',
          ts: Date.now(),
        });
  return { table: 'events', row, json: JSON.stringify(row), dedupeId: id, presence };
}

export async function redisCost(ctx: BenchContext): Promise<void> {
  const { redis, figures, log, opts } = ctx;
  defineScripts(redis);
  const keys = new RedisKeys(`rc${randomUUID().slice(0, 6)}`);
  const commit = new RowStream(redis, keys, 100_000_000);
  const perShape = opts.quick ? 40_000 : 200_000;
  let n = 0;
  /** Append `count` events in calls of the gateway's shape; Redis CPU µs per event. */
  const measure = async (account: string, shape: Shape, count: number, base = false): Promise<number> => {
    const cpu0 = await redisCpuSeconds(redis);
    for (let done = 0; done < count; done += REQUESTS_PER_CALL * EVENTS_PER_REQUEST) {
      const requests = Array.from({ length: REQUESTS_PER_CALL }, () => Array.from({ length: EVENTS_PER_REQUEST }, () => rowOf(account, shape, n++)));
      if (base) {
        const pipe = redis.pipeline();
        for (const r of requests.flat()) pipe.xadd(keys.eventStream(account), '*', 't', r.table, 'r', r.json!);
        await pipe.exec();
      } else {
        await Promise.all(requests.map((rows) => commit.append(account, rows, PRESENCE)));
      }
    }
    const us = (((await redisCpuSeconds(redis)) - cpu0) * 1e6) / count;
    await redis.del(keys.eventStream(account));
    return round(us, 1);
  };

  const result: Record<string, number> = {};
  for (const shape of ['pageview', 'heartbeat'] as const) {
    const account = `rc-${shape}`;
    await measure(account, shape, VISITORS * 2); // every visitor online, on its page
    result[shape] = await measure(account, shape, perShape);
    log(`redis-cost ${shape}: ${result[shape]} µs of Redis CPU an event`);
  }
  result.appendOnly = await measure('rc-append', 'no presence', perShape);
  result.baseline = await measure('rc-baseline', 'no presence', perShape, true);
  log(`redis-cost append alone ${result.appendOnly} µs, baseline XADD ${result.baseline} µs`);

  for (const shape of ['pageview', 'heartbeat'] as const) {
    figures.push(
      figure({
        id: `redis-us-per-${shape}`,
        name: `Redis CPU per event, ${shape} of a known visitor on its page (the constant presence path), in calls of ${REQUESTS_PER_CALL} × ${EVENTS_PER_REQUEST}`,
        unit: 'µs',
        better: 'lower',
        service: result[shape]!,
        baseline: result.baseline!,
        baselineIs: 'one XADD per event of the same rows, pipelined (the ingest baseline’s Redis work)',
        note: `the row append with its de-duplication marker alone (rows without presence, same calls): ${result.appendOnly} µs; ${VISITORS.toLocaleString('en-US')} visitors, nobody watching the account`,
        detail: { ...result, events: perShape, visitors: VISITORS },
      }),
    );
  }
}
