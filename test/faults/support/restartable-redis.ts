/**
 * A redis-server of the test's own (with AOF) that the test stops and starts again on the same
 * port and data dir, as an operator's restart does: the service keeps its one Redis URL.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, startLocalRedis } from '../../../src/adapters/redis/launcher.js';
import { createLogger } from '../../../src/logger.js';
import type { Fixture } from '../../support/fixture.js';

export interface RestartableRedis {
  readonly url: string;
  stop(): Promise<void>;
  /** Start it again on the same port and data dir. */
  start(): Promise<void>;
}

const log = createLogger('silent');

/** Whichever server is current when the file ends is stopped after the service (tracked first). */
export async function restartableRedis(fx: Fixture): Promise<RestartableRedis> {
  const dir = fx.trackDir(await mkdtemp(path.join(os.tmpdir(), 'visitor-fault-redis-')));
  const port = await freePort();
  let current = await startLocalRedis(dir, log, { port });
  fx.track(() => current.stop());
  return {
    url: current.url,
    stop: () => current.stop(),
    async start() {
      current = await startLocalRedis(dir, log, { port });
    },
  };
}
