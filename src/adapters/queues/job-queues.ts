import { randomUUID } from 'node:crypto';
import { Queue, type Job, type JobsOptions } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { RedisKeys } from '../redis/keys.js';
import { jobIdFor, QUEUES, queueOfJobId, type BackfillJob, type BackfillRequest, type ErasePersonJob, type JobProgress, type QueueKey } from './job.schema.js';
import type { BackfillResult, ErasureResult } from '../../domain/job-results.js';

/**
 * BullMQ key prefix. The `{jobs}` hash tag puts every key of every queue in one Redis Cluster
 * slot, which BullMQ's multi-key Lua scripts require; the service prefix keeps test and
 * deployment namespaces apart.
 */
export function bullPrefix(keys: RedisKeys): string {
  return `${keys.queuePrefix()}:{jobs}`;
}

export interface JobQueueOptions {
  connection: Redis | Cluster;
  keys: RedisKeys;
  /** Tries per job, the first included. */
  attempts: number;
  /** First retry delay; doubled on each further retry. */
  backoffMs: number;
}

/** Completed jobs stay a week (status lookups, CLI --wait), at most this many per queue. */
const KEEP_COMPLETED = { age: 7 * 24 * 3600, count: 1000 };
/** Failed jobs are kept for inspection until this many newer ones failed. */
const KEEP_FAILED = { count: 5000 };
/** A gateway answers 503 rather than hold a request while Redis does not take the job. */
const ADD_TIMEOUT_MS = 5000;

export interface JobStatus {
  id: string;
  queue: string;
  name: string;
  state: string;
  /** Percent done, 0–100. */
  progress: number;
  step?: string;
  result: unknown;
  failedReason?: string;
  /** Attempts that ended (failed or completed). */
  attemptsMade: number;
  /** Attempts begun, the running one included (a stalled run restarted counts again). */
  attemptsStarted: number;
  attempts: number;
  createdAt: string;
  processedAt?: string;
  finishedAt?: string;
}

function iso(ms: number | undefined): string | undefined {
  return ms ? new Date(ms).toISOString() : undefined;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Producer side of the job queues: what the gateway (and tests) add jobs to and read status from. */
export class JobQueues {
  readonly erasure: Queue<ErasePersonJob, ErasureResult>;
  readonly backfill: Queue<BackfillJob, BackfillResult>;
  readonly #defaults: JobsOptions;

  constructor(readonly opts: JobQueueOptions) {
    this.#defaults = {
      attempts: opts.attempts,
      backoff: { type: 'exponential', delay: opts.backoffMs },
      removeOnComplete: KEEP_COMPLETED,
      removeOnFail: KEEP_FAILED,
    };
    const common = { connection: opts.connection, prefix: bullPrefix(opts.keys), defaultJobOptions: this.#defaults };
    this.erasure = new Queue<ErasePersonJob, ErasureResult>(QUEUES.erasure.queue, common);
    this.backfill = new Queue<BackfillJob, BackfillResult>(QUEUES.backfill.queue, common);
  }

  queue(key: QueueKey): Queue {
    return key === 'erasure' ? (this.erasure as unknown as Queue) : (this.backfill as unknown as Queue);
  }

  async addErasure(account: string, personId: string): Promise<string> {
    const jobId = jobIdFor('erasure', randomUUID());
    const data: ErasePersonJob = { account, personId, requestedAt: Date.now() };
    await withTimeout(this.erasure.add(QUEUES.erasure.job, data, { jobId }), ADD_TIMEOUT_MS, 'adding the erasure job');
    return jobId;
  }

  async addBackfill(account: string, req: BackfillRequest): Promise<string> {
    const jobId = jobIdFor('backfill', randomUUID());
    const data: BackfillJob = { account, logs: req.logs, bytes: Buffer.byteLength(req.logs), from: req.from, to: req.to };
    await withTimeout(this.backfill.add(QUEUES.backfill.job, data, { jobId }), ADD_TIMEOUT_MS, 'adding the backfill job');
    return jobId;
  }

  /** A job's status, or undefined when it does not exist or belongs to another account. */
  async status(account: string, id: string): Promise<JobStatus | undefined> {
    const key = queueOfJobId(id);
    if (!key) return undefined;
    // State first: a job read after it shows `completed` carries its result (read the other way
    // round, a job finishing in between showed `completed` with no result).
    const state = await this.queue(key).getJobState(id);
    const job = (await this.queue(key).getJob(id)) as Job<{ account?: string }> | undefined;
    if (!job || job.data?.account !== account) return undefined;
    const p = job.progress as JobProgress | number | undefined;
    const progress = typeof p === 'number' ? p : (p?.pct ?? 0);
    return {
      id,
      queue: QUEUES[key].queue,
      name: job.name,
      state,
      progress: state === 'completed' ? 100 : progress,
      step: typeof p === 'object' && p ? p.step : undefined,
      result: job.returnvalue ?? null,
      failedReason: job.failedReason || undefined,
      attemptsMade: job.attemptsMade,
      attemptsStarted: job.attemptsStarted,
      attempts: job.opts.attempts ?? 1,
      createdAt: iso(job.timestamp) ?? '',
      processedAt: iso(job.processedOn),
      finishedAt: iso(job.finishedOn),
    };
  }

  async close(): Promise<void> {
    await Promise.all([this.erasure.close(), this.backfill.close()]);
  }
}
