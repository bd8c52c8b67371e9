/**
 * ADMIN_QUERY_TIMEOUT_MS is ClickHouse's max_execution_time on every admin analytics query: a
 * query that runs past it (a real one, over two million seeded impressions) answers 504
 * GW_ERR_QUERY_TIMEOUT, both from an in-process gateway on embedded chdb and from a gateway
 * process reaching the store over its HTTP port. The limit holds for that query only: the same
 * connections keep running longer statements afterwards.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { startServiceProcess, type ServiceProcess } from '../support/processes.js';

const LIMIT_MS = 5;
const IMPRESSIONS = 2_000_000;
const t = useTestService({ env: { ADMIN_QUERY_TIMEOUT_MS: String(LIMIT_MS) } });
let gatewayProc: ServiceProcess;

beforeAll(async () => {
  // Distinct (rec_id, session_id) pairs within the last day: uniqExact has to hash every one.
  await t.ch.command({
    query: `INSERT INTO recommendations (account_id, rec_id, listing, session_id, visitor_id, person_id, ts, source)
      SELECT {account:String}, concat('r-', toString(number % 50000)), concat('l-', toString(number % 300)), concat('s-', toString(number)),
             concat('v-', toString(number)), '', now64(3) - toIntervalSecond(number % 80000), 'api'
      FROM numbers({n:UInt64})`,
    query_params: { account: t.account.id, n: IMPRESSIONS },
  });
  gatewayProc = t.fx.track(await startServiceProcess(t, { env: { ROLES: 'gateway', ADMIN_QUERY_TIMEOUT_MS: String(LIMIT_MS) } }));
}, 120_000);

async function ctr(base: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}/api/ctr?from=2d`, { headers: { authorization: `Bearer ${t.account.adminKey}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('admin query time limit', () => {
  it('answers 504 GW_ERR_QUERY_TIMEOUT when the query runs past ADMIN_QUERY_TIMEOUT_MS (embedded chdb)', async () => {
    const { status, body } = await ctr(t.url);
    expect(status).toBe(504);
    expect(body).toMatchObject({ error: 'query-timeout', code: 'GW_ERR_QUERY_TIMEOUT' });
    expect(String(body.message)).toContain(`${LIMIT_MS} ms`);
    expect(t.messages()).toContain('[admin-api] tool=recommendation-ctr account=' + t.account.id + ' outcome=time-limit');
  });

  it('answers the same through the store port (a gateway process on CLICKHOUSE_URL)', async () => {
    const { status, body } = await ctr(gatewayProc.url!);
    expect(status).toBe(504);
    expect(body).toMatchObject({ code: 'GW_ERR_QUERY_TIMEOUT' });
  });

  it('limits only the admin query: the same connection runs a longer statement right after', async () => {
    await ctr(t.url);
    const started = performance.now();
    const [r] = await rows<{ n: string }>(t.ch, 'SELECT uniqExact(cityHash64(rec_id, session_id)) AS n FROM recommendations WHERE account_id = {a:String}', {
      a: t.account.id,
    });
    expect(Number(r!.n)).toBe(IMPRESSIONS);
    // It took longer than the admin limit, and was not stopped by it.
    expect(performance.now() - started).toBeGreaterThan(LIMIT_MS);
  });
});
