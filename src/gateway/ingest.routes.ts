import { isbot } from 'isbot';
import { z } from 'zod';
import { AccountRegistry, type Account } from '../accounts.js';
import {
  ForbiddenOriginError,
  GatewayError,
  RateLimitedError,
  StoreUnavailableError,
  TooManyEventsError,
  UnknownAccountError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../errors.js';
import { kv } from '../logger.js';
import { MAX_EVENTS_PER_REQUEST, zBeaconBody, zBeaconEvent, type BeaconEvent } from '../domain/event.schema.js';
import { normalizeEvent, type IngestContext } from '../domain/event.normalize.js';
import type { StoredEvent } from '../domain/stored-event.js';
import { TABLES } from '../adapters/clickhouse/tables.js';
import type { StreamRow } from '../adapters/redis/row-stream.js';
import { anyAccountAllows, corsHeaders } from './cors.js';
import type { GatewayContext, RouteModule } from './context.js';
import { bodyJson, handle, parseCookies, type RequestInfo } from './http.js';

/** A 1×1 transparent GIF. */
export const PIXEL_GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

const PIXEL_HEADERS = {
  'content-type': 'image/gif',
  'cache-control': 'no-store, max-age=0',
};

function describe(issues: z.core.$ZodIssue[], prefix = ''): string {
  return issues
    .slice(0, 5)
    .map((i) => `${prefix}${i.path.join('.') || '(body)'}: ${i.message}`)
    .join('; ');
}

/** Validate a decoded body into events of one known account. */
export function validateBatch(body: unknown, accounts: AccountRegistry): { account: Account; events: BeaconEvent[] } {
  const list = zBeaconBody.safeParse(body);
  if (!list.success) throw new ValidationError(`body must be an event object or { "events": [ … ] }`);
  const raw = list.data;
  if (raw.length > MAX_EVENTS_PER_REQUEST) throw new TooManyEventsError(`at most ${MAX_EVENTS_PER_REQUEST} events per request, got ${raw.length}`);
  const events: BeaconEvent[] = [];
  for (const [i, e] of raw.entries()) {
    const parsed = zBeaconEvent.safeParse(e);
    if (!parsed.success) throw new ValidationError(describe(parsed.error.issues, raw.length > 1 ? `events.${i}.` : ''));
    events.push(parsed.data);
  }
  const ids = new Set(events.map((e) => e.account));
  if (ids.size > 1) throw new ValidationError('all events of one request must belong to one account');
  const account = accounts.get(events[0]!.account);
  if (!account) throw new UnknownAccountError(`unknown account ${events[0]!.account}`);
  return { account, events };
}

export function eventLogLine(e: StoredEvent): string {
  return `[visitor-event] ${kv({
    type: e.type,
    account: e.account_id,
    path: e.path,
    depth: e.depth || undefined,
    label: e.label,
    listing: e.listing,
    dwell_ms: e.dwell_ms || undefined,
    person: e.person_id,
  })}`;
}

/**
 * The ingest pipeline shared by `/v/event`, `/p.gif` and the admin `POST /api/events`:
 * attribute, normalise, append to the stream (the answer waits for Redis), then presence.
 */
export async function ingest(
  ctx: GatewayContext,
  account: Account,
  events: readonly BeaconEvent[],
  req: Pick<RequestInfo, 'headers' | 'ip' | 'viaTrustedProxy'>,
): Promise<{ accepted: number; duplicates: number }> {
  const now = Date.now();
  const cookie = parseCookies(req.headers.cookie).get('mxy_v');
  const personId = await ctx.identity.personFromCookie(account, cookie, now);
  const ictx: IngestContext = {
    receivedAt: now,
    userAgent: req.headers['user-agent'] ?? '',
    ipHash: ctx.ipHasher.hashSync(req.ip, now) ?? (await ctx.ipHasher.hash(req.ip, now)),
    countryHeader: req.viaTrustedProxy ? (req.headers['cf-ipcountry'] ?? req.headers['x-country-code']) : undefined,
    personId,
  };
  const stored = events.map((e) => normalizeEvent(e, account.id, ictx));
  const rows: StreamRow[] = stored.map((s, i) => ({ table: TABLES.events, row: s, dedupeId: events[i]!.eventId }));
  rows.push(...(await ctx.identity.rowsFor(account, stored)));
  let outcomes;
  try {
    outcomes = await ctx.rows.append(account.id, rows);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    ctx.log.error({ err }, 'stream append failed');
    const e = new StoreUnavailableError('event store unavailable, retry later');
    e.retryAfter = 1;
    throw e;
  }
  const fresh = stored.filter((_, i) => outcomes[i] === 'accepted');
  for (const e of fresh) ctx.log.info({ account: e.account_id, type: e.type, eventId: e.event_id }, eventLogLine(e));
  ctx.metrics.inc('visitor_events_accepted_total', { account: account.id }, fresh.length);
  if (fresh.length < stored.length) ctx.metrics.inc('visitor_events_duplicate_total', { account: account.id }, stored.length - fresh.length);
  try {
    await ctx.presence.apply(account, fresh);
  } catch (err) {
    // The events are safely in the stream; presence catches up on the next heartbeat.
    ctx.log.error({ err, account: account.id }, 'presence update failed');
  }
  return { accepted: fresh.length, duplicates: stored.length - fresh.length };
}

export function logRejection(ctx: GatewayContext, err: GatewayError, req: RequestInfo, cause?: unknown): void {
  ctx.metrics.inc('visitor_events_rejected_total', { reason: err.reason });
  const level = err.status >= 500 ? 'error' : 'warn';
  ctx.log[level](
    { code: err.code, status: err.status, url: req.url, detail: err.message, err: err.status >= 500 ? cause : undefined },
    `[v-event-error] ${kv({ reason: err.reason, status: err.status, path: req.url })}`,
  );
}

function rateLimit(ctx: GatewayContext, ip: string): void {
  const wait = ctx.rateLimiter.take(ip);
  if (wait > 0) {
    const e = new RateLimitedError(`too many requests from this client, retry in ${wait}s`);
    e.retryAfter = wait;
    throw e;
  }
}

/**
 * isbot() runs one very long regular expression; browsers send few distinct user agents, so the
 * answer is remembered per user agent (bounded: cleared when full; long ones are not kept).
 */
const botAnswers = new Map<string, boolean>();
const BOT_ANSWERS_MAX = 10_000;

function isBot(headers: Readonly<Record<string, string>>): boolean {
  const ua = headers['user-agent'];
  if (!ua) return true;
  let bot = botAnswers.get(ua);
  if (bot === undefined) {
    bot = isbot(ua);
    if (ua.length <= 512) {
      if (botAnswers.size >= BOT_ANSWERS_MAX) botAnswers.clear();
      botAnswers.set(ua, bot);
    }
  }
  return bot;
}

/** Pixel query → beacon event fields (short aliases accepted). */
function pixelEvent(q: URLSearchParams): Record<string, unknown> {
  const e: Record<string, unknown> = {};
  const str = (k: string, ...aliases: string[]) => {
    for (const name of [k, ...aliases]) {
      const v = q.get(name);
      if (v !== null) return v;
    }
    return undefined;
  };
  const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));
  e.account = str('account');
  e.type = str('type') ?? 'pageview';
  e.sessionId = str('sessionId', 'session', 's');
  e.visitorId = str('visitorId', 'visitor', 'v');
  e.path = str('path', 'p');
  e.eventId = str('eventId');
  e.ts = num(str('ts'));
  e.url = str('url');
  e.title = str('title');
  e.referrer = str('referrer', 'r');
  e.label = str('label');
  e.depth = num(str('depth'));
  e.dwellMs = num(str('dwellMs'));
  e.listing = str('listing');
  e.rec = str('rec');
  e.segment = str('segment');
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return e;
}

export const ingestRoutes: RouteModule = (app, ctx) => {
  const opts = { ...ctx.handlerOpts, onError: (err: GatewayError, req: RequestInfo, cause: unknown) => logRejection(ctx, err, req, cause) };

  app.options(
    '/v/event',
    handle(opts, (req, reply) => {
      const origin = req.headers.origin;
      if (!origin || !anyAccountAllows(ctx.accounts.accounts, origin)) throw new ForbiddenOriginError(`origin ${origin ?? '(none)'} is not allowed`);
      reply.send({
        status: 204,
        headers: {
          ...corsHeaders(origin),
          'access-control-allow-methods': 'POST, OPTIONS',
          'access-control-allow-headers': 'content-type',
          'access-control-max-age': '86400',
        },
      });
    }),
  );

  app.post(
    '/v/event',
    handle(opts, async (req, reply) => {
      const origin = req.headers.origin;
      // Error answers carry CORS headers too, so a browser can read why it was refused.
      const cors = origin && anyAccountAllows(ctx.accounts.accounts, origin) ? corsHeaders(origin) : {};
      try {
        rateLimit(ctx, req.ip);
        const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (ct !== 'application/json' && ct !== 'text/plain' && ct !== '') {
          throw new UnsupportedMediaTypeError(`content-type must be application/json or text/plain, got ${ct}`);
        }
        const body = await req.body();
        const { account, events } = validateBatch(bodyJson(body), ctx.accounts);
        if (origin && !AccountRegistry.originAllowed(account, origin)) {
          throw new ForbiddenOriginError(`origin ${origin} is not allowed for account ${account.id}`);
        }
        if (isBot(req.headers)) {
          ctx.metrics.inc('visitor_bot_requests_total', { account: account.id });
          reply.send({ status: 204, headers: cors });
          return;
        }
        await ingest(ctx, account, events, req);
        reply.send({ status: 204, headers: cors });
      } catch (cause) {
        if (reply.aborted) return;
        const err = cause instanceof GatewayError ? cause : new StoreUnavailableError();
        logRejection(ctx, err, req, cause);
        reply.error(err, cors);
      }
    }),
  );

  app.get(
    '/p.gif',
    handle(opts, async (req, reply) => {
      // A pixel always answers with the image: the page must not show a broken one.
      try {
        rateLimit(ctx, req.ip);
        const { account, events } = validateBatch(pixelEvent(req.query), ctx.accounts);
        if (isBot(req.headers)) ctx.metrics.inc('visitor_bot_requests_total', { account: account.id });
        else await ingest(ctx, account, events, req);
      } catch (cause) {
        const err = cause instanceof GatewayError ? cause : new StoreUnavailableError();
        logRejection(ctx, err, req, cause);
      }
      reply.send({ status: 200, headers: PIXEL_HEADERS, body: PIXEL_GIF });
    }),
  );
};
