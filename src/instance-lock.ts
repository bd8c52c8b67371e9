/**
 * One service instance per DATA_DIR: the instance that keeps state there (the private Redis, the
 * embedded chdb) holds `DATA_DIR/instance.lock` from before anything else starts until it has
 * stopped. A second start on the same DATA_DIR is refused before it touches anything.
 */
import os from 'node:os';
import path from 'node:path';
import { DirLockedError, lockDir, type DirLock, type LockRecord } from './adapters/fs/dir-lock.js';
import type { Config } from './config.js';

export const INSTANCE_LOCK_FILE = 'instance.lock';

export class InstanceLockedError extends Error {
  override name = 'InstanceLockedError';
  constructor(
    readonly dataDir: string,
    readonly holder: LockRecord | undefined,
  ) {
    const h = holder ?? {};
    const who = [
      h.pid !== undefined ? `pid ${h.pid}` : 'a process that is still starting',
      h.hostname && h.hostname !== os.hostname() ? `on host ${h.hostname}` : undefined,
      h.startedAt ? `started ${h.startedAt}` : undefined,
      h.gateway ? `gateway ${h.gateway}` : undefined,
    ].filter(Boolean);
    super(
      `DATA_DIR ${dataDir} is in use by a running instance (${who.join(', ')}); nothing was started or changed. ` +
        'Stop that instance first, or start this one with another DATA_DIR.',
    );
  }
}

/**
 * Whether this process keeps state under DATA_DIR and so must hold its lock. Processes that reach
 * Redis and ClickHouse by URL only share DATA_DIR for credentials, which are safe to share.
 */
export function ownsDataDir(config: Config, chdbPath: string): boolean {
  const privateRedis = !config.REDIS_URL && !config.REDIS_CLUSTER_NODES;
  const rel = path.relative(path.resolve(config.DATA_DIR), path.resolve(chdbPath));
  const embeddedInDataDir = !config.CLICKHOUSE_URL && !rel.startsWith('..') && !path.isAbsolute(rel);
  return privateRedis || embeddedInDataDir;
}

/** Take the DATA_DIR lock or throw `InstanceLockedError` naming the instance that holds it. */
export async function lockInstance(config: Config): Promise<DirLock> {
  try {
    return await lockDir(config.DATA_DIR, INSTANCE_LOCK_FILE, {
      pid: process.pid,
      hostname: os.hostname(),
      startedAt: new Date().toISOString(),
      roles: config.ROLES.join(','),
    });
  } catch (err) {
    if (err instanceof DirLockedError) throw new InstanceLockedError(err.dir, err.holder);
    throw err;
  }
}
