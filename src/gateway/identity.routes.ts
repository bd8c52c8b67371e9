import { z } from 'zod';
import { NotFoundError, UnknownAccountError, ValidationError } from '../errors.js';
import type { Account } from '../domain/account.js';
import type { BeaconEvent } from '../domain/event.schema.js';
import { LISTING_SLUG_RE as SLUG_RE, OPAQUE_ID_RE as ID_RE, zPersonId, zVisitorId } from '../domain/ids.js';
import { DEFAULT_TOKEN_TTL_MS, MAX_TOKEN_TTL_MS, tokenCookie } from '../domain/visitor-token.js';
import type { IdentityService } from '../identity/identity.service.js';
import { kv } from '../logger.js';
import { appendOr503 } from '../ingest/append.js';
import { requireAdmin } from './admin-auth.js';
import type { GatewayContext, RouteModule } from './context.js';
import { bodyJson, handle, parseCookies, parseInput, type RequestInfo } from './http.js';
import { agentFacts } from '../ingest/index.js';
import { ingestErrorOpts } from './ingest-error-opts.js';

/** The snippet's first-party visitor cookie (fallback when localStorage is unavailable). */
export const VISITOR_COOKIE = 'mxy_a';
/** Label of every click recorded by the click route (CTR = events with rec_id != ''). */
export const RECOMMENDATION_LABEL = 'recommendation';

export const zMintTokenBody = z.object({
  personId: zPersonId,
  /** Lifetime in ms. @defaultValue 30 days; at most 365 days. */
  ttlMs: z.number().int().min(1000).max(MAX_TOKEN_TTL_MS, `ttlMs must be at most ${MAX_TOKEN_TTL_MS} (365 days)`).optional(),
});

export const zIdentifyBody = z.object({
  visitorId: zVisitorId,
  personId: zPersonId,
  /** How sure the operator is (their login: 1). @defaultValue 1 */
  confidence: z.number().min(0).max(1).default(1),
});

/** The redirect target: only ever the account's template with the encoded slug in it (no open redirect). */
export function listingLocation(account: Account, slug: string): string | undefined {
  if (!account.listingUrl || !SLUG_RE.test(slug) || slug === '.' || slug === '..') return undefined;
  const enc = encodeURIComponent(slug);
  return account.listingUrl.replaceAll('{slug}', () => enc);
}

/** A JSON body (none is `{}`) checked by `schema`: invalid UTF-8 or JSON is a 400, as on every route. */
async function jsonBody<T>(req: RequestInfo, schema: z.ZodType<T>): Promise<T> {
  const buf = await req.body();
  return parseInput(schema, buf.length ? bodyJson(buf) : {});
}

function idOrEmpty(v: string | null | undefined): string {
  return v && ID_RE.test(v) ? v : '';
}

/**
 * Identity routes: the recommendation click (verify the token, set `mxy_v`, record the click,
 * redirect), token minting and operator identify.
 */
export function identityRoutes(identity: IdentityService): RouteModule {
  return (app, ctx) => {
    const opts = ingestErrorOpts(ctx);

    app.get(
      '/listings/:slug/click',
      handle(
        'listing-click',
        opts,
        async (req, reply) => {
          const now = Date.now();
          const account = ctx.accounts.get(req.query.get('account') ?? '');
          if (!account) throw new UnknownAccountError(`unknown account ${req.query.get('account') ?? '(none)'}`);
          if (!account.listingUrl) throw new NotFoundError(`account ${account.id} has no listingUrl`);
          let slug: string;
          try {
            slug = decodeURIComponent(req.params[0] ?? '');
          } catch {
            throw new ValidationError('listing slug is not valid URL encoding');
          }
          const location = listingLocation(account, slug);
          if (!location) throw new ValidationError('listing slug must be 1-256 of [A-Za-z0-9._~-]');

          const headers: Record<string, string> = { location, 'cache-control': 'no-store' };
          const token = req.query.get('v');
          let person: string | undefined;
          if (token) {
            const res = await identity.check(account, token, now);
            if (res.ok) {
              person = res.personId;
              headers['set-cookie'] = tokenCookie(token);
              const shown = ctx.ids.personLogId(account.id, person);
              ctx.log.info({ account: account.id, person: shown }, `[token-bind] accept ${kv({ account: account.id, person: shown, via: 'click' })}`);
            } else identity.logReject(account.id, res.reason, 'click', token, now);
          }

          // The browser always gets its redirect; the click is recorded for humans under the rate limit.
          try {
            if (agentFacts(req.headers['user-agent'] ?? '').bot) ctx.ingest.countBot(account.id);
            else if (ctx.rateLimiter.take(req.ip) === 0) await recordClick(ctx, account, req, slug, location, person);
          } catch (err) {
            ctx.log.error({ err, account: account.id }, `[v-event-error] ${kv({ reason: 'click-not-recorded', account: account.id })}`);
          }
          reply.send({ status: 302, headers });
        },
        1,
      ),
    );

    app.post(
      '/api/tokens',
      handle('tokens', opts, async (req, reply) => {
        const account = requireAdmin(ctx, req);
        const body = await jsonBody(req, zMintTokenBody);
        const minted = await identity.mint(account, body.personId, body.ttlMs ?? DEFAULT_TOKEN_TTL_MS, Date.now());
        const shown = ctx.ids.personLogId(account.id, body.personId);
        ctx.log.info(
          { account: account.id, person: shown, expiryMs: minted.expiryMs },
          `[token-mint] ${kv({ account: account.id, person: shown, expiry: new Date(minted.expiryMs).toISOString() })}`,
        );
        reply.json(200, { token: minted.token, expiryMs: minted.expiryMs, personId: body.personId });
      }),
    );

    app.post(
      '/api/identify',
      handle('identify', opts, async (req, reply) => {
        const account = requireAdmin(ctx, req);
        const body = await jsonBody(req, zIdentifyBody);
        const now = Date.now();
        await appendOr503(() => ctx.rows.append(account.id, [identity.identifyRow(account.id, body.visitorId, body.personId, body.confidence, now)]));
        const visitor = ctx.ids.visitorLogId(account.id, body.visitorId);
        const person = ctx.ids.personLogId(account.id, body.personId);
        ctx.log.info({ account: account.id, visitor, person }, `[identify] ${kv({ account: account.id, visitor, person, confidence: body.confidence })}`);
        reply.json(202, { visitorId: body.visitorId, personId: body.personId, source: 'identify', confidence: body.confidence, ts: now });
      }),
    );
  };
}

/** The click as an `events` event (type click, label recommendation, listing and rec id set), through the ingest pipeline. */
async function recordClick(ctx: GatewayContext, account: Account, req: RequestInfo, slug: string, location: string, person: string | undefined): Promise<void> {
  const cookies = parseCookies(req.headers.cookie);
  // Not validated by zBeaconEvent: the visitor is unknown when the browser has no `mxy_a` cookie.
  const event: BeaconEvent = {
    account: account.id,
    type: 'click',
    sessionId: idOrEmpty(req.query.get('session') ?? req.query.get('s')),
    visitorId: idOrEmpty(cookies.get(VISITOR_COOKIE)),
    path: `/listings/${slug}/click`,
    url: location,
    referrer: (req.headers.referer ?? '').slice(0, 4096) || undefined,
    label: RECOMMENDATION_LABEL,
    listing: slug,
    rec: idOrEmpty(req.query.get('rec')) || undefined,
  };
  await ctx.ingest.acceptTrusted(account, [event], req, person);
}
