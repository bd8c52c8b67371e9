import { z } from 'zod';
import { InvalidJsonError, NotFoundError, StoreUnavailableError } from '../errors.js';
import { kv } from '../logger.js';
import type { JobQueues } from '../adapters/queues/job-queues.js';
import { zBackfillRequest } from '../adapters/queues/job.schema.js';
import { zPersonId } from '../domain/ids.js';
import { requireAdmin } from './admin-auth.js';
import type { GatewayContext, RouteModule } from './context.js';
import { bodyText, handle, parseInput, routeParam } from './http.js';

function queues(ctx: GatewayContext): JobQueues {
  if (!ctx.jobs) throw new StoreUnavailableError('job queues are not available in this process');
  return ctx.jobs;
}

/** A call to the job queue; a failure of Redis under it is a 503, logged as `failed`. */
async function queueCall<T>(ctx: GatewayContext, failed: string, call: () => Promise<T>, retryAfter?: number): Promise<T> {
  try {
    return await call();
  } catch (err) {
    ctx.log.error({ err }, failed);
    throw new StoreUnavailableError('the job queue is unavailable, retry later', { retryAfter, cause: err });
  }
}

/** An enqueue may be retried in a few seconds. */
const enqueue = (ctx: GatewayContext, add: () => Promise<string>) => queueCall(ctx, '[jobs] could not add the job', add, 5);

/**
 * Admin job routes: `POST /api/backfill`, `POST /api/persons/:id/erase`, `GET /api/jobs/:id`.
 * Jobs belong to the account of the admin key that created them; another account's job is a 404.
 * Person ids appear in these URLs, so error lines log the route, never the path.
 */
export const jobsRoutes: RouteModule = (app, ctx) => {
  app.post(
    '/api/backfill',
    handle('backfill', { ...ctx.handlerOpts, maxBodyBytes: ctx.config.BACKFILL_MAX_BYTES }, async (req, reply) => {
      const account = requireAdmin(ctx, req);
      const jobs = queues(ctx);
      const body = bodyText(await req.body());
      const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      let input: unknown;
      if (ct === 'text/plain') {
        // The raw log as the body, the window in the query: `curl --data-binary @app.log`.
        input = { logs: body, from: req.query.get('from') ?? undefined, to: req.query.get('to') ?? undefined };
      } else {
        try {
          input = JSON.parse(body);
        } catch {
          throw new InvalidJsonError('body must be JSON { "logs": "<text>", "from"?: ISO, "to"?: ISO } or text/plain log lines');
        }
      }
      const request = parseInput(zBackfillRequest, input);
      const jobId = await enqueue(ctx, () => jobs.addBackfill(account.id, request));
      const bytes = Buffer.byteLength(request.logs);
      ctx.log.info({ account: account.id, job: jobId, bytes }, `[jobs] ${kv({ queued: 'backfill', account: account.id, job: jobId, bytes })}`);
      reply.json(202, { jobId });
    }),
  );

  app.post(
    '/api/persons/:id/erase',
    handle(
      'erase',
      ctx.handlerOpts,
      async (req, reply) => {
        const account = requireAdmin(ctx, req);
        const jobs = queues(ctx);
        const person = routeParam(req.params[0], zPersonId, 'person id');
        const jobId = await enqueue(ctx, () => jobs.addErasure(account.id, person));
        ctx.log.info({ account: account.id, job: jobId }, `[jobs] ${kv({ queued: 'erasure', account: account.id, job: jobId })}`);
        reply.json(202, { jobId });
      },
      1,
    ),
  );

  app.get(
    '/api/jobs/:id',
    handle(
      'job-status',
      ctx.handlerOpts,
      async (req, reply) => {
        const account = requireAdmin(ctx, req);
        const jobs = queues(ctx);
        const id = routeParam(req.params[0], z.string(), 'job id');
        const status = await queueCall(ctx, '[jobs] status lookup failed', () => jobs.status(account.id, id));
        if (!status) throw new NotFoundError(`no job ${id} for this account`);
        reply.json(200, status);
      },
      1,
    ),
  );
};
