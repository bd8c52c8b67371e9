import { z } from 'zod';
import { zAccountId, zPersonId } from '../../domain/ids.js';

/**
 * Queue and job names, payload schemas and result shapes shared by the gateway (which adds
 * jobs) and the workers (which run them). One file per job under `workers/jobs/<queue>.<name>.ts`.
 */
export const QUEUES = {
  erasure: { queue: 'erasure', job: 'erase-person' },
  backfill: { queue: 'backfill', job: 'backfill-from-logs' },
} as const;

export type QueueKey = keyof typeof QUEUES;

export const zErasePersonJob = z.object({
  account: zAccountId,
  /** Cleared once the job completes, so a kept job carries no personal data. */
  personId: zPersonId,
  requestedAt: z.number().int(),
});
export type ErasePersonJob = z.infer<typeof zErasePersonJob>;

/** An ISO-8601 time (date, or date and time with an optional zone). */
export const zIsoTime = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/, 'expected an ISO-8601 time, e.g. 2026-11-20T08:00:00Z')
  .refine((s) => !Number.isNaN(Date.parse(s)), 'not a valid time');

export const zBackfillRequest = z
  .object({
    logs: z.string().min(1, 'logs must not be empty'),
    from: zIsoTime.optional(),
    to: zIsoTime.optional(),
  })
  .refine((b) => !b.from || !b.to || Date.parse(b.from) < Date.parse(b.to), { message: 'from must be before to', path: ['to'] });
export type BackfillRequest = z.infer<typeof zBackfillRequest>;

export const zBackfillJob = z.object({
  account: zAccountId,
  /** Cleared once the job completes (the byte count stays in `bytes`). */
  logs: z.string(),
  bytes: z.number().int().min(0),
  from: zIsoTime.optional(),
  to: zIsoTime.optional(),
});
export type BackfillJob = z.infer<typeof zBackfillJob>;

/** Progress reported while a job runs: percent done and the step it is on. */
export interface JobProgress {
  pct: number;
  step: string;
}

/** Job ids say which queue holds them: `<queue>-<uuid>` (BullMQ refuses `:` in custom ids). */
export function jobIdFor(queue: QueueKey, uuid: string): string {
  return `${QUEUES[queue].queue}-${uuid}`;
}

export function queueOfJobId(id: string): QueueKey | undefined {
  for (const k of Object.keys(QUEUES) as QueueKey[]) if (id.startsWith(`${QUEUES[k].queue}-`)) return k;
  return undefined;
}
