/** What the job tests (erasure, backfill) do through the admin API, and the job workers they run themselves. */
import { expect } from 'vitest';
import { RedisKeys } from '../../src/adapters/redis/keys.js';
import { bootJobWorkers } from '../../workers/jobs/boot.js';
import { eventually, type TestService } from './services.js';

/** An admin API call of `svc` with `key`, the body (if any) as JSON. */
export function adminApi(svc: TestService, key: string, method: string, p: string, body?: unknown): Promise<Response> {
  return fetch(`${svc.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export interface JobStatus<R = Record<string, unknown> | null> {
  state: string;
  progress: number;
  result: R;
  failedReason?: string;
}

/** `GET /api/jobs/:id`, which must answer 200. */
export async function jobStatus<R = Record<string, unknown> | null>(svc: TestService, key: string, id: string): Promise<JobStatus<R>> {
  const res = await adminApi(svc, key, 'GET', `/api/jobs/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as JobStatus<R>;
}

/** The job once completed; a failed job fails the test with its reason. */
export function jobDone<R = Record<string, unknown> | null>(svc: TestService, key: string, id: string, timeoutMs = 30_000): Promise<JobStatus<R>> {
  return eventually(async () => {
    const s = await jobStatus<R>(svc, key, id);
    expect(s.state, s.failedReason).not.toBe('failed');
    return s.state === 'completed' ? s : undefined;
  }, timeoutMs);
}

/** Job workers on `svc`'s stores, in the test's process: for a service started without the worker role. */
export function jobWorkersOf(svc: TestService): ReturnType<typeof bootJobWorkers> {
  return bootJobWorkers({
    config: svc.config,
    log: svc.service.log.child({ module: 'jobs' }),
    ch: svc.ch,
    redis: svc.service.redis,
    keys: new RedisKeys(svc.config.REDIS_PREFIX),
    redisUrl: svc.service.redisUrl,
    ids: svc.service.ids,
  });
}
