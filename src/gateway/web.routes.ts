import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import type { GatewayContext, RouteModule } from './context.js';
import { handle, type RequestInfo, type Reply } from './http.js';
import { requireAdmin } from './admin-auth.js';

/** A file served from memory: read and compressed once at start. */
export interface StaticAsset {
  body: Buffer;
  gzip: Buffer;
  etag: string;
  headers: Record<string, string>;
}

function asset(body: Buffer, headers: Record<string, string>): StaticAsset {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  return { body, gzip: gzipSync(body, { level: 9 }), etag, headers };
}

function webFile(name: string): Buffer {
  return readFileSync(new URL(`../web/${name}`, import.meta.url));
}

/** A file of the uPlot package (the operator page's charts), from wherever npm put it. */
function uplotFile(name: string): Buffer {
  return readFileSync(createRequire(import.meta.url).resolve(`uplot/dist/${name}`));
}

/** The snippet as served: `t.min.js`, esbuild's output of `t.js` (`npm run build:snippet`). */
export function snippetAsset(): StaticAsset {
  return asset(webFile('t.min.js'), {
    'content-type': 'text/javascript; charset=utf-8',
    // Short freshness so a fix reaches every site within the hour; the ETag makes revalidation cheap.
    'cache-control': 'public, max-age=3600, stale-while-revalidate=86400',
    // Site pages load it cross-origin (also with `crossorigin` for SRI, and under COEP).
    'access-control-allow-origin': '*',
    'cross-origin-resource-policy': 'cross-origin',
  });
}

// The operator page holds an admin key in storage: no framing, no third-party anything.
const PAGE_SECURITY: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/** Every path this module serves, and nothing else: no file name ever comes from a request. */
function loadAssets(): Map<string, StaticAsset> {
  const revalidate = 'no-cache';
  // The library changes only with an npm update: a day of freshness, then the ETag.
  const vendor = 'public, max-age=86400';
  return new Map<string, StaticAsset>([
    ['/t.js', snippetAsset()],
    ['/', asset(webFile('dashboard.html'), { 'content-type': 'text/html; charset=utf-8', 'cache-control': revalidate, ...PAGE_SECURITY })],
    ['/dashboard.js', asset(webFile('dashboard.js'), { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': revalidate })],
    ['/dashboard.css', asset(webFile('dashboard.css'), { 'content-type': 'text/css; charset=utf-8', 'cache-control': revalidate })],
    ['/vendor/uplot.min.js', asset(uplotFile('uPlot.iife.min.js'), { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': vendor })],
    ['/vendor/uplot.min.css', asset(uplotFile('uPlot.min.css'), { 'content-type': 'text/css; charset=utf-8', 'cache-control': vendor })],
  ]);
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const v = t.trim();
    return v === '*' || v === etag || v === `W/${etag}`;
  });
}

function serve(a: StaticAsset, req: RequestInfo, reply: Reply): void {
  const common = { ...a.headers, etag: a.etag, vary: 'Accept-Encoding', 'x-content-type-options': 'nosniff' };
  if (etagMatches(req.headers['if-none-match'], a.etag)) {
    reply.send({ status: 304, headers: common });
    return;
  }
  const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
  const headers = gzip ? { ...common, 'content-encoding': 'gzip' } : common;
  const body = gzip ? a.gzip : a.body;
  reply.send({ status: 200, headers, body });
}

/** The snippet `/t.js`, the operator page `/` with its assets (GET and HEAD), and `/api/me` for the page. */
export const webRoutes: RouteModule = (app, ctx: GatewayContext) => {
  const assets = loadAssets();
  for (const [path, a] of assets) {
    const h = handle('web.asset', ctx.handlerOpts, (req, reply) => serve(a, req, reply));
    app.get(path, h);
    app.head(path, h);
  }

  // The page learns which account its key reaches (one key = one account) and the presence timing.
  app.get(
    '/api/me',
    handle('me', ctx.handlerOpts, (req, reply) => {
      const account = requireAdmin(ctx, req);
      reply.json(200, { account: account.id, heartbeatMs: account.presence.heartbeatMs, ttlMs: account.presence.ttlMs }, { 'cache-control': 'no-store' });
    }),
  );
};
