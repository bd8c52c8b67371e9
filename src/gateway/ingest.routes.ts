import { ForbiddenOriginError, RateLimitedError, UnsupportedMediaTypeError } from '../errors.js';
import { anyAccountAllows, corsHeaders } from './cors.js';
import type { GatewayContext, RouteModule } from './context.js';
import { bodyJson, handle, reportError } from './http.js';
import { ingestErrorOpts } from './ingest-error-opts.js';

/** A 1×1 transparent GIF. */
export const PIXEL_GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

const PIXEL_HEADERS = {
  'content-type': 'image/gif',
  'cache-control': 'no-store, max-age=0',
};

function rateLimit(ctx: GatewayContext, ip: string): void {
  const wait = ctx.rateLimiter.take(ip);
  if (wait > 0) {
    throw new RateLimitedError(`too many requests from this client, retry in ${wait}s`, { retryAfter: wait });
  }
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
  const opts = ingestErrorOpts(ctx);

  app.options(
    '/v/event',
    handle('event-preflight', opts, (req, reply) => {
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
    handle('event', opts, async (req, reply) => {
      const origin = req.headers.origin;
      // Error answers carry CORS headers too, so a browser can read why it was refused.
      const cors = origin && anyAccountAllows(ctx.accounts.accounts, origin) ? corsHeaders(origin) : {};
      reply.errorHeaders = cors;
      rateLimit(ctx, req.ip);
      const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (ct !== 'application/json' && ct !== 'text/plain' && ct !== '') {
        throw new UnsupportedMediaTypeError(`content-type must be application/json or text/plain, got ${ct}`);
      }
      const body = bodyJson(await req.body());
      await ctx.ingest.accept(body, req, { origin, filterBots: true });
      reply.send({ status: 204, headers: cors });
    }),
  );

  app.get(
    '/p.gif',
    handle('pixel', opts, async (req, reply) => {
      // A pixel always answers with the image: the page must not show a broken one.
      try {
        rateLimit(ctx, req.ip);
        await ctx.ingest.accept(pixelEvent(req.query), req, { filterBots: true });
      } catch (cause) {
        reportError('pixel', opts, req, cause);
      }
      reply.send({ status: 200, headers: PIXEL_HEADERS, body: PIXEL_GIF });
    }),
  );
};
