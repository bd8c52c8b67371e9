/**
 * The exactly-once scenarios against a real `clickhouse-server` of the version docker-compose.yml
 * pins, and the cluster migrations against two replicas with Keeper: everywhere else they are
 * proven against chdb behind the store role's HTTP interface, which imitates the server. Needs a
 * Docker engine (testcontainers); where none is reachable the suite is skipped and says so.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { StartedNetwork, StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chTime } from '../../src/domain/stored-event.js';
import { migrate } from '../../src/adapters/clickhouse/migrate.js';
import { TABLES } from '../../src/adapters/clickhouse/tables.js';
import { createLogger } from '../../src/logger.js';
import { dockerReachable, eventually, randomId, rows } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { REPO_ROOT, startServiceProcess } from '../support/processes.js';
import { startChProxy, type ChProxy } from '../faults/support/ch-proxy.js';
import { Ledger } from '../faults/support/ledger.js';

const docker = await dockerReachable();
if (!docker) console.log('[clickhouse-server] no Docker engine reachable: the real clickhouse-server scenarios and the two-replica cluster are skipped');

/** The image docker-compose.yml runs, so the two cannot drift apart. */
const IMAGE = /image:\s*(clickhouse\/clickhouse-server:\S+)/.exec(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'))![1]!;
const PASSWORD = 'visitor-test';

async function startServer(network?: StartedNetwork, alias?: string, configXml?: string): Promise<StartedTestContainer> {
  const { GenericContainer, Wait } = await import('testcontainers');
  let c = new GenericContainer(IMAGE)
    .withEnvironment({ CLICKHOUSE_PASSWORD: PASSWORD, CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT: '1' })
    .withExposedPorts(8123)
    .withWaitStrategy(Wait.forHttp('/ping', 8123).forStatusCode(200))
    .withStartupTimeout(120_000);
  if (network && alias) c = c.withNetwork(network).withNetworkAliases(alias);
  if (configXml) c = c.withCopyContentToContainer([{ content: configXml, target: '/etc/clickhouse-server/config.d/cluster.xml' }]);
  return c.start();
}

const urlOf = (c: StartedTestContainer) => `http://default:${PASSWORD}@${c.getHost()}:${c.getMappedPort(8123)}`;

describe.skipIf(!docker)('exactly once against a real clickhouse-server', () => {
  let server: StartedTestContainer;
  // The gateway here, its flush workers as processes: each scenario decides how they reach ClickHouse.
  // One account a scenario, so each ledger sees only its own events.
  const t = useTestService(async (fx) => {
    server = fx.track(await startServer());
    return { accounts: ['ingest', 'poison', 'outage', 'crash'].map((s) => randomId(s)), env: { ROLES: 'gateway', CLICKHOUSE_URL: urlOf(server) } };
  }, 180_000);
  const { fx } = t;
  let proxy: ChProxy;
  const workerEnv = { ROLES: 'worker', FLUSH_BATCH_SIZE: '400', FLUSH_INTERVAL_MS: '150', RECLAIM_IDLE_MS: '1000' };

  beforeAll(async () => {
    proxy = fx.track(await startChProxy(`http://${server.getHost()}:${server.getMappedPort(8123)}`));
  });

  const proxied = () => `http://default:${PASSWORD}@127.0.0.1:${proxy.port}`;

  it('ingest: every accepted event stored once', async () => {
    const account = t.accounts[0]!.id;
    const ledger = new Ledger('server-ingest', [account]);
    const w = fx.track(await startServiceProcess(t, { env: workerEnv }));
    for (let i = 0; i < 20; i++) await ledger.post(t.url, account, 10);
    await ledger.settle(t);
    const result = await ledger.verify(t.ch);
    expect(result.accepted).toBe(200);
    expect([result.missing, result.duplicated, result.foreign]).toEqual([[], [], []]);
    await w.stop();
  });

  it('poison rows: dead-lettered while the rest is stored', async () => {
    const account = t.accounts[1]!.id;
    const ledger = new Ledger('server-poison', [account]);
    const w = fx.track(await startServiceProcess(t, { env: workerEnv }));
    const now = chTime(Date.now());
    const bad = JSON.stringify({
      account_id: account,
      event_id: 'not-a-uuid',
      ts: now,
      received_at: now,
      type: 'pageview',
      session_id: 's',
      visitor_id: 'v',
      path: '/poison',
    });
    for (let i = 0; i < 5; i++) await ledger.post(t.url, account, 10);
    await t.service.redis.xadd(t.service.keys.eventStream(account), '*', 't', TABLES.events, 'r', bad);
    for (let i = 0; i < 5; i++) await ledger.post(t.url, account, 10);
    await ledger.settle(t);
    const result = await ledger.verify(t.ch);
    expect(result.accepted).toBe(100);
    expect([result.missing, result.duplicated, result.foreign]).toEqual([[], [], []]);
    const dead = (await t.service.redis.xrange(t.service.keys.deadLetters(account), '-', '+')) as [string, string[]][];
    expect(dead.map(([, f]) => f[f.indexOf('r') + 1])).toEqual([bad]);
    await w.stop();
  });

  it('outage: nothing lost while ClickHouse refuses connections', async () => {
    const account = t.accounts[2]!.id;
    const ledger = new Ledger('server-outage', [account]);
    const w = fx.track(await startServiceProcess(t, { env: { ...workerEnv, CLICKHOUSE_URL: proxied() } }));
    await proxy.setMode('refuse');
    for (let i = 0; i < 20; i++) await ledger.post(t.url, account, 10);
    await new Promise((r) => setTimeout(r, 2000));
    await proxy.setMode('pass');
    await ledger.settle(t);
    const result = await ledger.verify(t.ch);
    expect(result.accepted).toBe(200);
    expect([result.missing, result.duplicated, result.foreign]).toEqual([[], [], []]);
    await w.stop();
  });

  it('worker crash between insert and ack: reclaimed, not inserted twice', async () => {
    const account = t.accounts[3]!.id;
    const ledger = new Ledger('server-worker-crash', [account]);
    const a = fx.track(await startServiceProcess(t, { env: { ...workerEnv, CLICKHOUSE_URL: proxied() } }));
    await proxy.setMode('hold-inserts');
    for (let i = 0; i < 30; i++) await ledger.post(t.url, account, 10);
    await eventually(() => proxy.faulted >= 1, 30_000);
    expect(await a.crash()).toBe('SIGKILL');
    await proxy.setMode('pass');
    const b = fx.track(await startServiceProcess(t, { env: workerEnv }));
    await ledger.settle(t);
    const result = await ledger.verify(t.ch);
    expect(result.accepted).toBe(300);
    expect([result.missing, result.duplicated, result.foreign]).toEqual([[], [], []]);
    expect(b.messages().some((m) => m.includes('[flush] skipped re-delivered rows already in ClickHouse'))).toBe(true);
  });
});

/** One shard, two replicas, Keeper embedded in the first server. */
function clusterXml(replica: string): string {
  const node = (host: string) => `<replica><host>${host}</host><port>9000</port><user>default</user><password>${PASSWORD}</password></replica>`;
  return `<clickhouse>
  <remote_servers><visitor><shard><internal_replication>true</internal_replication>${node('ch1')}${node('ch2')}</shard></visitor></remote_servers>
  <zookeeper><node><host>ch1</host><port>9181</port></node></zookeeper>
  <macros><shard>01</shard><replica>${replica}</replica></macros>
  ${
    replica === 'ch1'
      ? `<keeper_server><tcp_port>9181</tcp_port><server_id>1</server_id>
    <log_storage_path>/var/lib/clickhouse/coordination/log</log_storage_path>
    <snapshot_storage_path>/var/lib/clickhouse/coordination/snapshots</snapshot_storage_path>
    <raft_configuration><server><id>1</id><hostname>ch1</hostname><port>9234</port></server></raft_configuration>
  </keeper_server>`
      : ''
  }
</clickhouse>`;
}

describe.skipIf(!docker)('cluster migrations on two replicas with Keeper', () => {
  let network: StartedNetwork;
  const servers: StartedTestContainer[] = [];
  const clients: ClickHouseClient[] = [];
  const database = `t_${randomId('c').replace(/-/g, '_')}`;

  beforeAll(async () => {
    const { Network } = await import('testcontainers');
    network = await new Network().start();
    servers.push(await startServer(network, 'ch1', clusterXml('ch1')));
    servers.push(await startServer(network, 'ch2', clusterXml('ch2')));
    for (const s of servers) clients.push(createClient({ url: urlOf(s) }));
    await clients[0]!.command({ query: `CREATE DATABASE IF NOT EXISTS ${database} ON CLUSTER visitor` });
  }, 240_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    for (const s of servers) await s.stop();
    await network?.stop();
  });

  it('creates every table on both replicas, twice without error, and replicates inserts', async () => {
    const first = createClient({ url: urlOf(servers[0]!), database });
    try {
      await migrate(first, createLogger('silent'), { cluster: 'visitor' });
      await migrate(first, createLogger('silent'), { cluster: 'visitor' });
      const tablesOn = async (c: ClickHouseClient) =>
        (await rows<{ name: string }>(c, 'SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name', { db: database })).map((r) => r.name);
      const on1 = await tablesOn(clients[0]!);
      expect(on1).toContain(TABLES.events);
      await eventually(async () => JSON.stringify(await tablesOn(clients[1]!)) === JSON.stringify(on1), 30_000, 500);

      const id = randomUUID();
      await first.insert({
        table: TABLES.events,
        values: [
          {
            account_id: 'acme',
            event_id: id,
            ts: chTime(Date.now()),
            received_at: chTime(Date.now()),
            type: 'pageview',
            session_id: 's',
            visitor_id: 'v',
            path: '/',
          },
        ],
        format: 'JSONEachRow',
      });
      await eventually(
        async () =>
          (await rows<{ n: string }>(clients[1]!, `SELECT count() AS n FROM ${database}.${TABLES.events} WHERE event_id = {id:UUID}`, { id }))[0]?.n === '1',
        30_000,
        500,
      );
    } finally {
      await first.close();
    }
  });
});
