/**
 * `visitor job-status` while a job runs: the attempt it is on ("1 of 5, running"), not the
 * attempts BullMQ has finished ("0/5"). The gateway runs without the worker role; the job is
 * taken by a real BullMQ worker of the test whose processor waits until the test lets it finish,
 * so the job is held in `active` for as long as the assertions need.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'bullmq';
import { beforeAll, describe, expect, it } from 'vitest';
import { createQueueConnection } from '../../src/adapters/queues/connection.js';
import { bullPrefix } from '../../src/adapters/queues/job-queues.js';
import { QUEUES } from '../../src/adapters/queues/job.schema.js';
import { runVisitorCli } from '../support/processes.js';
import { eventually } from '../support/services.js';
import { useTestService } from '../support/fixture.js';

const t = useTestService({ withRedis: true, env: { ROLES: 'gateway' } }, 60_000);
let dir: string;

beforeAll(async () => {
  dir = t.fx.trackDir(await mkdtemp(path.join(os.tmpdir(), 'visitor-jobs-cli-')));
});

const visitor = (args: string[]) => runVisitorCli(args, { VISITOR_URL: t.url, VISITOR_KEY: t.account.adminKey });

describe('job-status', () => {
  it('shows the running attempt while a job runs, the attempts made once it is done', async () => {
    const logs = path.join(dir, 'recs.log');
    await writeFile(logs, `2026-11-20T08:15:02.120Z [property-recommended] account=${t.account.id} session=s-1 listing=12-high-st rec=r-9\n`);
    const queued = await visitor(['backfill-from-logs', logs, '--json']);
    expect(queued.err).toBe('');
    const { jobId } = JSON.parse(queued.out) as { jobId: string };

    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const connection = createQueueConnection({ url: t.service.redisUrl, name: 'test-job-holder' });
    const worker = new Worker(
      QUEUES.backfill.queue,
      async () => {
        await released;
        return { recWritten: 0, clickWritten: 0, skipped: 0, invalid: 0 };
      },
      { connection, prefix: bullPrefix(t.service.keys) },
    );
    try {
      await eventually(async () => JSON.parse((await visitor(['job-status', jobId, '--json'])).out).state === 'active', 45_000, 200);
      const running = await visitor(['job-status', jobId]);
      expect(running.code).toBe(0);
      expect(running.out).toMatch(new RegExp(`${jobId}\\s+active\\s+\\d+%\\s+1 of 5, running`));
      const json = JSON.parse((await visitor(['job-status', jobId, '--json'])).out) as Record<string, unknown>;
      expect(json).toMatchObject({ state: 'active', attemptsMade: 0, attemptsStarted: 1, attempts: 5 });

      release();
      await eventually(async () => JSON.parse((await visitor(['job-status', jobId, '--json'])).out).state === 'completed', 45_000, 200);
      expect((await visitor(['job-status', jobId])).out).toMatch(new RegExp(`${jobId}\\s+completed\\s+100%\\s+1 of 5`));
    } finally {
      release();
      await worker.close();
      connection.disconnect();
    }
  }, 90_000);
});
