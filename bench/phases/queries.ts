/**
 * Phase `queries`: the analytics API's latencies over many generated events (engagement, CTR,
 * one session), each beside the plain SQL sent straight to the store.
 */
import { TARGETS, type BenchContext } from '../lib/context.js';
import { figure, percentile, round } from '../lib/report.js';

const EVENT_COLUMNS =
  'account_id, event_id, ts, received_at, type, session_id, visitor_id, person_id, path, url, title, referrer, label, depth, dwell_ms, listing, rec_id, ua_family, device, channel, referrer_host';

/** Events of 20 per session, 200,000 visitors (one in 20 with a cookie person), 5,000 listings, over the last 30 days. */
function eventsSql(start: number, count: number, total: number, t0Ms: number): string {
  const span = 30 * 86_400_000;
  return `INSERT INTO events (${EVENT_COLUMNS})
SELECT 'bench-q', generateUUIDv4(number), ts, ts, type, concat('s-', toString(s)), concat('v-', toString(v)),
  if(v % 20 = 0, concat('p-', toString(intDiv(v, 20))), ''), p, concat('https://bench.example', p), concat('Listing ', toString(l)),
  if(number % 20 = 0, 'https://www.google.com/', ''), if(type = 'click', 'card', ''),
  if(type = 'scroll', [25, 50, 75, 100][1 + s % 4], 0), if(type = 'leave', toUInt32(cityHash64(number) % 300000), 0),
  toString(l), if(type = 'click' AND s % 3 = 0, concat('r-', toString(s)), ''), 'Chrome', 'desktop',
  if(number % 20 = 0, 'search', 'direct'), if(number % 20 = 0, 'www.google.com', '')
FROM (
  SELECT number, intDiv(number, 20) AS s, intDiv(number, 20) % 200000 AS v, cityHash64(intDiv(number, 4)) % 5000 AS l,
    concat('/listings/', toString(l)) AS p,
    ['pageview','pageview','pageview','pageview','pageview','pageview','pageview','pageview','heartbeat','heartbeat',
     'heartbeat','heartbeat','heartbeat','heartbeat','scroll','scroll','scroll','click','click','leave'][1 + number % 20] AS type,
    fromUnixTimestamp64Milli(toInt64(${t0Ms} + intDiv(number * ${span}, ${total})), 'UTC') AS ts
  FROM numbers(${start}, ${count})
)`;
}

/** Five recommended listings for every third session, the clicked one among them. */
function recommendationsSql(total: number, t0Ms: number): string {
  const span = 30 * 86_400_000;
  return `INSERT INTO recommendations (account_id, rec_id, listing, session_id, visitor_id, person_id, ts, source)
SELECT 'bench-q', concat('r-', toString(s)), toString(cityHash64(5 * s + number % 5) % 5000), concat('s-', toString(s)),
  concat('v-', toString(s % 200000)), '', fromUnixTimestamp64Milli(toInt64(${t0Ms} + intDiv(20 * s * ${span}, ${total})), 'UTC'), 'bench'
FROM (SELECT number, intDiv(number, 5) * 3 AS s FROM numbers(${Math.floor(total / 60) * 5}))`;
}

interface QueryRun {
  p50: number;
  p99: number;
  runs: number;
  status: number;
  rows?: number;
}

async function timeApi(ctx: BenchContext, url: string, key: string): Promise<QueryRun | 'unavailable'> {
  const { S } = ctx;
  const times: number[] = [];
  let status = 0;
  for (let i = 0; i < S.queryRuns + 2; i++) {
    const t = performance.now();
    const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
    const body = await res.text();
    const ms = performance.now() - t;
    status = res.status;
    if (res.status === 404 && body.includes('no route')) return 'unavailable';
    if (!res.ok) throw new Error(`${url} answered ${res.status}: ${body.slice(0, 300)}`);
    if (i >= 2) times.push(ms);
  }
  return { p50: round(percentile(times, 50)), p99: round(percentile(times, 99)), runs: times.length, status };
}

async function timeSql(ctx: BenchContext, sql: string): Promise<QueryRun> {
  const { S } = ctx;
  const times: number[] = [];
  for (let i = 0; i < S.queryRuns + 2; i++) {
    const t = performance.now();
    await ctx.ch(sql);
    if (i >= 2) times.push(performance.now() - t);
  }
  return { p50: round(percentile(times, 50)), p99: round(percentile(times, 99)), runs: times.length, status: 200 };
}

export async function queries(ctx: BenchContext): Promise<void> {
  const { S, gateway, adminKey, figures, notes, log } = ctx;
  const t0 = Date.now() - 30 * 86_400_000;
  let inserted = 0;
  const genStarted = Date.now();
  for (let start = 0; start < S.queryEvents; start += S.queryChunk) {
    // Leave about two minutes for the queries themselves.
    if (Date.now() > ctx.deadline - 120_000) {
      notes.push(`query data generation stopped at ${inserted.toLocaleString('en-US')} events to keep the run under its deadline`);
      break;
    }
    const count = Math.min(S.queryChunk, S.queryEvents - start);
    await ctx.ch(eventsSql(start, count, S.queryEvents, t0));
    inserted += count;
    log(`queries: ${inserted.toLocaleString('en-US')} events generated`);
  }
  await ctx.ch(recommendationsSql(inserted, t0));
  await ctx.ch(`INSERT INTO identity_edges (account_id, visitor_id, person_id, source, confidence, ts)
    SELECT 'bench-q', concat('v-', toString(number * 20 + 1)), concat('p-e', toString(number)), 'bench', 1, now64(3) FROM numbers(10000)`);
  const genS = round((Date.now() - genStarted) / 1000);
  const counts = (
    await ctx.chRows<{ t: string; n: string }>(
      "SELECT 'events' AS t, count() AS n FROM events WHERE account_id = 'bench-q' UNION ALL SELECT 'recommendations', count() FROM recommendations WHERE account_id = 'bench-q' UNION ALL SELECT 'recommendation_clicks', count() FROM recommendation_clicks WHERE account_id = 'bench-q' UNION ALL SELECT 'visitor_engagement rows', count() FROM visitor_engagement WHERE account_id = 'bench-q'",
    )
  ).map((r) => [r.t, Number(r.n)]);
  log(`queries: data ready in ${genS} s: ${JSON.stringify(Object.fromEntries(counts))}`);

  const key = adminKey['bench-q'];
  const session = `s-${Math.floor(inserted / 20 / 2)}`;
  const api = {
    engagement: await timeApi(ctx, `${gateway.url}/api/engagement?limit=50`, key),
    ctr: await timeApi(ctx, `${gateway.url}/api/ctr`, key),
    session: await timeApi(ctx, `${gateway.url}/api/sessions/${session}`, key),
  };
  const plain = {
    engagement: await timeSql(
      ctx,
      `SELECT visitor_id, max(ts) AS last, countIf(type = 'pageview') AS pv, countIf(type = 'scroll' AND depth > 0) AS sm, sum(dwell_ms) AS dw,
      pow(2, -dateDiff('second', last, now64(3)) / 86400 / 7) * log2(1 + pv + 0.25 * sm) * log2(2 + dw / 1000 / 60) AS score
      FROM events WHERE account_id = 'bench-q' GROUP BY visitor_id ORDER BY score DESC LIMIT 50`,
    ),
    ctr: await timeSql(
      ctx,
      `SELECT listing, i.n AS impressions, c.n AS clicks FROM
      (SELECT listing, uniqExact(rec_id, session_id) AS n FROM recommendations WHERE account_id = 'bench-q' AND ts >= now64(3) - INTERVAL 30 DAY GROUP BY listing) AS i
      FULL OUTER JOIN (SELECT listing, uniqExact(rec_id, session_id) AS n FROM events WHERE account_id = 'bench-q' AND type = 'click' AND rec_id != '' AND ts >= now64(3) - INTERVAL 30 DAY GROUP BY listing) AS c
      USING (listing) ORDER BY impressions DESC LIMIT 10000`,
    ),
    session: await timeSql(ctx, `SELECT * FROM events WHERE account_id = 'bench-q' AND session_id = '${session}' ORDER BY ts, event_id`),
  };
  const tools: [keyof typeof api, string, string][] = [
    [
      'engagement',
      'engagement-score (GET /api/engagement?limit=50)',
      'plain GROUP BY visitor over the raw events computing the same score, sent straight to the store',
    ],
    [
      'ctr',
      'recommendation-ctr (GET /api/ctr, last 30 days)',
      'plain impressions ⟗ clicks counted from the raw events (no materialised view), sent straight to the store',
    ],
    ['session', 'session-detail (GET /api/sessions/:id)', 'the same sort-key read of one session, sent straight to the store (no API)'],
  ];
  for (const [k, name, baselineIs] of tools) {
    const a = api[k];
    const b = plain[k];
    const svc = a === 'unavailable' ? null : a;
    for (const p of ['p50', 'p99'] as const) {
      figures.push(
        figure({
          id: `query-${k}-${p}`,
          name: `Query ${name} ${p} over ${(inserted / 1e6).toLocaleString('en-US')}M events`,
          unit: 'ms',
          better: 'lower',
          service: svc ? svc[p] : null,
          baseline: b[p],
          baselineIs,
          target: p === 'p99' ? { op: '<', value: TARGETS.query } : undefined,
          status: a === 'unavailable' ? 'unavailable' : undefined,
          note: a === 'unavailable' ? 'the endpoint answered 404: not built yet' : undefined,
          detail: { runs: S.queryRuns, api: a, baseline: b, dataGenerationS: genS, rows: Object.fromEntries(counts) },
        }),
      );
    }
    log(`query ${k}: ${a === 'unavailable' ? 'unavailable' : `p50 ${a.p50} ms p99 ${a.p99} ms`}; plain p50 ${b.p50} ms`);
  }
}
