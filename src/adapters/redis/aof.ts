import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from './client.js';

/**
 * `rewritten`: every node's append-only file was rebuilt from the data as it is now, and Redis
 * dropped the old base and incremental files; `off`: no node keeps an AOF; `failed`: a node's
 * rewrite failed or did not end in time (the old files still hold what was deleted).
 */
export type AofOutcome = 'rewritten' | 'off' | 'failed';

const POLL_MS = 50;

function persistence(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

async function rewriteNode(node: Redis, deadline: number, signal?: AbortSignal): Promise<AofOutcome> {
  const info = async () => persistence(await node.info('persistence'));
  const busy = (s: Map<string, string>) => s.get('aof_rewrite_in_progress') === '1' || s.get('aof_rewrite_scheduled') === '1';
  for (;;) {
    let s = await info();
    if (s.get('aof_enabled') !== '1') return 'off';
    // A rewrite already running may have taken its snapshot before the deletions: let it end,
    // then start one of our own.
    while (busy(s)) {
      if (Date.now() > deadline || signal?.aborted) return 'failed';
      await sleep(POLL_MS);
      s = await info();
    }
    const before = Number(s.get('aof_rewrites') ?? 0);
    try {
      await node.bgrewriteaof();
    } catch (err) {
      // Another client started one between our check and our command: wait for it and retry.
      if (/in progress/i.test(String((err as Error).message))) continue;
      throw err;
    }
    for (;;) {
      if (Date.now() > deadline || signal?.aborted) return 'failed';
      await sleep(POLL_MS);
      s = await info();
      if (busy(s)) continue;
      if (Number(s.get('aof_rewrites') ?? 0) > before) return s.get('aof_last_bgrewrite_status') === 'ok' ? 'rewritten' : 'failed';
      // Neither running nor counted: the rewrite failed to start.
      if (s.get('aof_last_bgrewrite_status') !== 'ok') return 'failed';
    }
  }
}

/**
 * Rewrite the append-only file of every primary (`BGREWRITEAOF`), waiting until each rewrite
 * has finished (`aof_rewrite_in_progress:0`, `aof_rewrites` counted up, status ok). Until then
 * the AOF still holds every command ever applied, deleted data included (with Redis 7's
 * multi-part AOF: the base and incr files under `appenddirname`; Redis deletes the old ones once
 * the new base is in the manifest).
 */
export async function rewriteAof(redis: RedisClient, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<AofOutcome> {
  const deadline = Date.now() + opts.timeoutMs;
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const outcomes = await Promise.all(nodes.map((n) => rewriteNode(n, deadline, opts.signal)));
  if (outcomes.includes('failed')) return 'failed';
  return outcomes.every((o) => o === 'off') ? 'off' : 'rewritten';
}
