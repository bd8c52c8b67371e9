/**
 * The one set-up and tear-down of an integration test file: `useTestService()` starts the file's
 * service (in its own namespace, see `startTestService`) in `beforeAll`, and one `afterAll` stops
 * everything the file tracked, newest first, then removes the service's data. Extra resources a
 * file starts (service processes, proxies, clients, temp dirs) go through `fx.track(...)`, so no
 * file writes its own teardown.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll } from 'vitest';
import { connectRedis, type RedisClient } from '../../src/adapters/redis/client.js';
import { removeTestData, startTestRedis, startTestService, type TestRedis, type TestService, type TestServiceOptions } from './services.js';

/** Something to end after all tests: a stop(), a close(), or a function. */
export type Stoppable = { stop(): unknown } | { close(): unknown } | (() => unknown);

export interface Fixture {
  /**
   * End `first` (and `more`, in parallel with it) after all tests, before anything tracked
   * earlier. Returns `first`, so `proxy = fx.track(await startChProxy(...))`.
   */
  track<T extends Stoppable>(first: T, ...more: Stoppable[]): T;
  /** A directory removed after all tests. */
  trackDir(dir: string): string;
  /** A real Redis for the file, stopped after all tests. */
  redis(): Promise<TestRedis>;
  /** A client of the Redis at `url`, disconnected after all tests. */
  redisClient(url: string): RedisClient;
  /** Start a service now; it is stopped (and its data removed, unless it reuses another's) after all tests. */
  start(opts?: StartOptions): Promise<TestService>;
}

export interface StartOptions extends TestServiceOptions {
  /**
   * Wait at most this long for the service's stop (a drain that cannot finish, e.g. with Redis
   * gone for good), then kill its own redis-server. @defaultValue no bound
   */
  stopWithinMs?: number;
}

export interface UseServiceOptions extends StartOptions {
  /** Start a test Redis first and point the service at it. */
  withRedis?: boolean;
}

type Options = UseServiceOptions | ((fx: Fixture) => UseServiceOptions | Promise<UseServiceOptions>);

async function end(s: Stoppable): Promise<void> {
  if (typeof s === 'function') await s();
  else if ('stop' in s) await s.stop();
  else await s.close();
}

/** Register the file's one `afterAll` and return the tracker that feeds it. */
export function useFixture(): Fixture {
  const stack: Stoppable[][] = [];
  afterAll(async () => {
    const errors: unknown[] = [];
    // Each item is ended even when an earlier one failed: a leaked process outlives the run.
    while (stack.length) {
      const group = stack.pop()!;
      for (const r of await Promise.allSettled(group.map(end))) if (r.status === 'rejected') errors.push(r.reason);
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length) throw new AggregateError(errors, 'several resources failed to stop');
  });
  const fx: Fixture = {
    track(first, ...more) {
      stack.push([first, ...more]);
      return first;
    },
    trackDir(dir) {
      fx.track(() => rm(dir, { recursive: true, force: true }));
      return dir;
    },
    async redis() {
      return fx.track(await startTestRedis());
    },
    redisClient(url) {
      const client = connectRedis({ url });
      fx.track(() => client.disconnect());
      return client;
    },
    async start({ stopWithinMs, ...opts } = {}) {
      const t = await startTestService(opts);
      fx.track(async () => {
        if (stopWithinMs === undefined) await t.stop();
        else {
          await Promise.race([t.stop(), new Promise((r) => setTimeout(r, stopWithinMs))]);
          t.service.localRedis?.kill();
        }
        if (!opts.reuse) await removeTestData(t);
      });
      return t;
    },
  };
  return fx;
}

/** A real Redis for the file and a client of it, started in `beforeAll` and read through the returned object. */
export function useTestRedis(fx: Fixture): { readonly redis: TestRedis; readonly client: RedisClient } {
  const shared = {} as { redis: TestRedis; client: RedisClient };
  beforeAll(async () => {
    shared.redis = await fx.redis();
    shared.client = fx.redisClient(shared.redis.url);
  });
  return shared;
}

/**
 * The file's service, started in `beforeAll` and read through the returned object (reading it
 * before then throws). `opts` may be a function of the fixture, to start what the options need
 * (a Redis, a free port) through the same teardown. `timeoutMs` overrides the hook timeout.
 */
export function useTestService(opts: Options = {}, timeoutMs?: number): TestService & { fx: Fixture } {
  const fx = useFixture();
  let t: TestService | undefined;
  beforeAll(async () => {
    const { withRedis, ...o } = typeof opts === 'function' ? await opts(fx) : opts;
    if (withRedis) o.redisUrl = (await fx.redis()).url;
    t = await fx.start(o);
  }, timeoutMs);
  return new Proxy({} as TestService & { fx: Fixture }, {
    get(_target, prop) {
      if (prop === 'fx') return fx;
      if (!t && (typeof prop === 'symbol' || prop === 'then')) return undefined;
      if (!t) throw new Error(`test service read (.${String(prop)}) before its beforeAll ran`);
      return Reflect.get(t, prop) as unknown;
    },
    has: (_target, prop) => prop === 'fx' || (t !== undefined && prop in t),
  });
}

/**
 * For a file whose test stops its service and starts the next on the same data (other roles, a
 * restart): `start` begins the next turn, `stop` ends the current one. Each service is stopped
 * once (a second stop would close its stores again), by the test or after all; the data of the
 * turns is removed after all.
 */
export interface ServiceTurns {
  start(opts: TestServiceOptions): Promise<TestService>;
  stop(): Promise<void>;
}

export function serviceTurns(fx: Fixture): ServiceTurns {
  let live: TestService | undefined;
  let first: TestService | undefined;
  return {
    async start(opts) {
      live = await startTestService(opts);
      if (!first) {
        first = live;
        // Tracked at the first start, after what the services use (a file's Redis): they stop first.
        fx.track(async () => {
          await live?.stop();
          await removeTestData(first!);
        });
      }
      return live;
    },
    async stop() {
      const s = live;
      live = undefined;
      await s?.stop();
    },
  };
}
