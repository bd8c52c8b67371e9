/**
 * The snippet in a real browser (Debian's chromium) against the running service: what a visit
 * sends, as stored in ClickHouse and logged by the gateway, and how `/t.js` is served.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page, Request } from 'playwright-core';
import { eventually, randomId, rows } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { collectPageErrors, launchBrowser, newContext, startTestSite, type TestSite } from './browser.js';

interface Ev {
  type: string;
  path: string;
  label: string;
  depth: number;
  dwell_ms: number;
  session_id: string;
  visitor_id: string;
  person_id: string;
  event_id: string;
  listing: string;
  segment: string;
  props: string;
  referrer: string;
  url: string;
}

const account = randomId('acct');
let site: TestSite;
let browser: Browser;

const t = useTestService(async (fx) => {
  site = fx.track(await startTestSite(account));
  return { accounts: [account] };
});

beforeAll(async () => {
  site.gatewayUrl = t.url;
  browser = t.fx.track(await launchBrowser());
});

function eventsOf(visitor: string): Promise<Ev[]> {
  return rows<Ev>(
    t.ch,
    `SELECT type, path, label, depth, dwell_ms, session_id, visitor_id, person_id, toString(event_id) AS event_id,
            listing, segment, props, referrer, url
       FROM events WHERE account_id = {a:String} AND visitor_id = {v:String} ORDER BY ts, received_at`,
    { a: account, v: visitor },
  );
}

/** Wait until the stored events of a visitor satisfy `ok`, and return them. */
async function storedUntil(visitor: string, ok: (evs: Ev[]) => boolean, timeoutMs = 15_000): Promise<Ev[]> {
  return eventually(async () => {
    const evs = await eventsOf(visitor);
    return ok(evs) ? evs : undefined;
  }, timeoutMs);
}

function isEventPost(r: Request): boolean {
  return r.url() === `${t.url}/v/event` && r.method() === 'POST';
}

/** Resolves with the first batch the snippet posts that contains `fragment`. */
function posted(page: Page, fragment: string): Promise<Request> {
  return page.waitForRequest((r) => isEventPost(r) && (r.postData() ?? '').includes(fragment), { timeout: 10_000 });
}

async function ids(page: Page): Promise<{ visitor: string; session: string }> {
  return page.evaluate(() => ({
    visitor: localStorage.getItem('mxy_a') ?? '',
    session: (sessionStorage.getItem('mxy_s') ?? '').split('|')[0] ?? '',
  }));
}

describe('serving /t.js and the operator page', () => {
  const source = readFileSync(new URL('../../src/web/t.js', import.meta.url), 'utf8');
  const minified = readFileSync(new URL('../../src/web/t.min.js', import.meta.url), 'utf8');

  it('serves the minified snippet with its content type, caching headers and an ETag', async () => {
    const res = await fetch(`${t.url}/t.js`, { headers: { 'accept-encoding': 'identity' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('cache-control')).toMatch(/^public, max-age=\d+/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const etag = res.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{10,}"$/);
    const body = await res.text();
    expect(body).toBe(minified);
    expect(body.length).toBeLessThan(source.length / 2);
    expect(body).not.toContain('/*');
    expect(() => new vm.Script(body)).not.toThrow();

    const again = await fetch(`${t.url}/t.js`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect(await again.text()).toBe('');

    const stale = await fetch(`${t.url}/t.js`, { headers: { 'if-none-match': '"something-else"' } });
    expect(stale.status).toBe(200);
  });

  it('compresses for clients that accept gzip', async () => {
    const raw = await new Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      http
        .get(`${t.url}/t.js`, { headers: { 'accept-encoding': 'gzip, deflate' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        })
        .on('error', reject);
    });
    expect(raw.headers['content-encoding']).toBe('gzip');
    expect(raw.headers.vary).toContain('Accept-Encoding');
    expect(gunzipSync(raw.body).toString('utf8')).toBe(minified);
    expect(raw.body.length).toBeLessThanOrEqual(3072);
  });

  it('serves the operator page and its assets, with a strict CSP, and no other file', async () => {
    const page = await fetch(`${t.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(await page.text()).toContain('id="online-total"');
    expect((await fetch(`${t.url}/dashboard.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await fetch(`${t.url}/dashboard.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');

    // Raw request lines, so nothing normalises the dots away before the gateway sees them.
    const status = (p: string) =>
      new Promise<number>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: new URL(t.url).port, path: p }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on('error', reject);
      });
    for (const p of [
      '/../package.json',
      '/t.js/../../package.json',
      '/%2e%2e/app/service.ts',
      '/web/t.js',
      '/src/web/t.js',
      '/dashboard.html',
      '/t.js%00.map',
      '/..%2fpackage.json',
      '/accounts.json',
    ]) {
      expect(await status(p), p).toBe(404);
    }
  });

  it('answers HEAD like GET, without the body', async () => {
    /** A raw request: fetch would hide whether a body came back. */
    const raw = (method: string, p: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: new URL(t.url).port, path: p, method, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        });
        req.on('error', reject);
        req.end();
      });
    for (const p of ['/', '/t.js', '/dashboard.js', '/vendor/uplot.min.js']) {
      for (const enc of ['identity', 'gzip']) {
        const get = await raw('GET', p, { 'accept-encoding': enc });
        const head = await raw('HEAD', p, { 'accept-encoding': enc });
        expect(head.status, `HEAD ${p} ${enc}`).toBe(200);
        expect(head.body.length).toBe(0);
        for (const h of ['content-type', 'cache-control', 'etag', 'content-encoding', 'x-content-type-options'])
          expect(head.headers[h], `${p} ${h}`).toBe(get.headers[h]);
        expect(Number(head.headers['content-length'])).toBe(get.body.length);
      }
    }
    expect((await raw('HEAD', '/')).headers['content-security-policy']).toContain("default-src 'none'");
    const missing = await raw('HEAD', '/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.body.length).toBe(0);
    // Nothing left over on the kept-alive connection: the next answer parses.
    expect((await raw('GET', '/t.js')).status).toBe(200);
  });

  it('tells the page which account its admin key reaches', async () => {
    expect((await fetch(`${t.url}/api/me`)).status).toBe(401);
    expect((await fetch(`${t.url}/api/me`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const me = await fetch(`${t.url}/api/me`, { headers: { authorization: `Bearer ${t.account.adminKey}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ account: account, heartbeatMs: 15_000 });
  });
});

describe('a visit in the browser', () => {
  it('records pageview, scroll 50, the floorplan click, SPA and link navigation, and dwell on close', async () => {
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    const errors = collectPageErrors(page);

    const firstView = posted(page, '"type":"pageview"');
    await page.goto(`${site.origin}/`);
    await firstView;
    const { visitor, session } = await ids(page);
    expect(visitor).toMatch(/^[0-9a-f-]{36}$/);
    expect(session).toMatch(/^[0-9a-f-]{36}$/);

    // Scroll a little past half way; the milestones reached follow from the page's geometry.
    const scrolled = posted(page, '"depth":50');
    const g = await page.evaluate(() => {
      window.scrollTo(0, Math.round(document.documentElement.scrollHeight * 0.5));
      return { y: window.scrollY, h: window.innerHeight, H: document.documentElement.scrollHeight };
    });
    const seenPct = ((g.y + g.h) / g.H) * 100;
    expect(seenPct).toBeGreaterThan(50);
    expect(seenPct).toBeLessThan(99);
    const expectedDepths = [25, 50, 75, 100].filter((m) => seenPct >= m);
    await scrolled;

    const clicked = posted(page, '"label":"floorplan"');
    await page.click('#fp');
    await clicked;

    await page.waitForTimeout(200);
    const spa = posted(page, '"/listings/12-high-st"');
    await page.click('#spa');
    expect(new URL(page.url()).pathname).toBe('/listings/12-high-st');
    await spa;

    // A real link: the page goes away (pagehide → leave), the next one loads in the same tab.
    const nextView = posted(page, '"path":"/about"');
    await page.click('#about');
    await page.waitForURL(`${site.origin}/about`);
    await nextView;
    expect(await ids(page)).toEqual({ visitor, session });
    await page.waitForTimeout(300);
    await page.close();

    const evs = await storedUntil(visitor, (e) => e.some((x) => x.type === 'leave' && x.path === '/about'));
    const at = (type: string, path: string) => evs.filter((e) => e.type === type && e.path === path);

    expect(at('pageview', '/')).toHaveLength(1);
    expect(at('pageview', '/')[0]!.url).toBe(`${site.origin}/`);
    expect(
      at('scroll', '/')
        .map((e) => e.depth)
        .sort((a, b) => a - b),
    ).toEqual(expectedDepths);
    expect(at('click', '/')).toHaveLength(1);
    expect(at('click', '/')[0]!.label).toBe('floorplan');

    // SPA route change: the old view ends with its dwell, the new one starts with the old URL as referrer.
    const nav = at('nav', '/');
    expect(nav).toHaveLength(1);
    expect(nav[0]!.dwell_ms).toBeGreaterThan(0);
    expect(JSON.parse(nav[0]!.props)).toEqual({ to: '/listings/12-high-st' });
    const listingView = at('pageview', '/listings/12-high-st');
    expect(listingView).toHaveLength(1);
    expect(listingView[0]!.listing).toBe('12-high-st');
    expect(listingView[0]!.referrer).toBe(`${site.origin}/`);

    const leftListing = at('leave', '/listings/12-high-st');
    expect(leftListing).toHaveLength(1);
    expect(leftListing[0]!.dwell_ms).toBeGreaterThan(0);
    expect(at('pageview', '/about')).toHaveLength(1);
    const leftAbout = at('leave', '/about');
    expect(leftAbout).toHaveLength(1);
    expect(leftAbout[0]!.dwell_ms).toBeGreaterThan(0);

    // One visitor, one tab session, every event once.
    expect(new Set(evs.map((e) => e.session_id))).toEqual(new Set([session]));
    expect(new Set(evs.map((e) => e.event_id)).size).toBe(evs.length);
    expect(evs.every((e) => e.person_id === '')).toBe(true);

    const msgs = t.messages();
    expect(msgs).toContain(`[visitor-event] type=click label=floorplan account=${account} path=/`);
    expect(msgs).toContain(`[visitor-event] type=scroll depth=50 account=${account} path=/`);
    expect(msgs).toContain(`[visitor-event] type=pageview account=${account} path=/listings/12-high-st listing=12-high-st`);
    expect(msgs).toContain(`[visitor-event] type=pageview account=${account} path=/about`);
    expect(msgs.some((m) => new RegExp(`^\\[visitor-event\\] type=leave dwell_ms=[1-9]\\d* account=${account} path=/about$`).test(m))).toBe(true);
    expect(errors).toEqual([]);
    await ctx.close();
  });

  it('records downloads, outbound links, form submits (without field values), heartbeats and custom events', async () => {
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    const errors = collectPageErrors(page);
    const firstView = posted(page, '"type":"pageview"');
    await page.goto(`${site.origin}/?hb=1000&segment=north`);
    await firstView;
    const { visitor } = await ids(page);

    await page.click('#brochure');
    await page.click('#out');
    await page.click('#send');
    await page.evaluate(() => (window as unknown as { mxy: (...a: unknown[]) => void }).mxy('track', 'video-play', { seconds: 3 }));
    // Two heartbeat periods while visible.
    await page.waitForTimeout(2_300);

    const evs = await storedUntil(visitor, (e) => e.some((x) => x.type === 'custom') && e.filter((x) => x.type === 'heartbeat').length >= 2);
    const one = (type: string) => {
      const found = evs.filter((e) => e.type === type);
      expect(found, type).toHaveLength(1);
      return found[0]!;
    };
    const download = one('download');
    expect(download.label).toBe('brochure.pdf');
    expect(JSON.parse(download.props)).toEqual({ href: `${site.origin}/files/brochure.pdf` });
    const outbound = one('click');
    expect(outbound.label).toBe('outbound');
    expect(JSON.parse(outbound.props)).toEqual({ href: 'http://localhost:1/elsewhere' });
    const form = one('form_submit');
    expect(form.label).toBe('contact-form');
    expect(JSON.parse(form.props)).toEqual({ action: '/thanks' });
    const custom = one('custom');
    expect(custom.label).toBe('video-play');
    expect(JSON.parse(custom.props)).toEqual({ seconds: 3 });
    expect(evs.every((e) => e.segment === 'north')).toBe(true);
    // What a visitor typed never leaves the page.
    expect(evs.some((e) => JSON.stringify(e).includes('secret@example.com'))).toBe(false);
    expect(errors).toEqual([]);
    await ctx.close();
  });

  it('replays calls queued by the usual stub before the script loaded', async () => {
    const ctx = await newContext(browser);
    await ctx.addInitScript(() => {
      const w = window as unknown as { mxy: ((...a: unknown[]) => void) & { q?: unknown[] } };
      w.mxy =
        w.mxy ||
        function (...args: unknown[]) {
          (w.mxy.q = w.mxy.q || []).push(args);
        };
      w.mxy('segment', 'south');
      w.mxy('track', 'early-bird', { plan: 'a' });
    });
    const page = await ctx.newPage();
    const sent = posted(page, '"early-bird"');
    await page.goto(`${site.origin}/`);
    await sent;
    const { visitor } = await ids(page);
    const evs = await storedUntil(visitor, (e) => e.some((x) => x.type === 'custom'));
    const custom = evs.find((e) => e.type === 'custom')!;
    expect(custom.label).toBe('early-bird');
    expect(JSON.parse(custom.props)).toEqual({ plan: 'a' });
    // The queued segment applies before the first page view.
    expect(evs.find((e) => e.type === 'pageview')!.segment).toBe('south');
    expect(custom.segment).toBe('south');
    await ctx.close();
  });

  it('retries a failed batch with the same event ids, and stores it once', async () => {
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    const attempts: string[] = [];
    let n = 0;
    await page.route(`${t.url}/v/event`, async (route) => {
      const req = route.request();
      if (req.method() !== 'POST') return route.continue();
      attempts.push(req.postData() ?? '');
      n++;
      if (n === 1) return route.abort('connectionreset');
      if (n === 2)
        return route.fulfill({
          status: 503,
          headers: { 'retry-after': '1', 'access-control-allow-origin': site.origin, 'access-control-allow-credentials': 'true' },
          body: '{"error":"store-unavailable"}',
        });
      return route.continue();
    });
    await page.goto(`${site.origin}/`);
    const { visitor } = await ids(page);
    const evs = await storedUntil(visitor, (e) => e.some((x) => x.type === 'pageview'));
    const stored = evs.filter((e) => e.type === 'pageview');
    expect(stored).toHaveLength(1);
    expect(attempts.length).toBeGreaterThanOrEqual(3);
    const idOf = (body: string) => {
      const parsed = JSON.parse(body) as { eventId?: string; events?: { eventId: string; type: string }[] };
      return parsed.events ? parsed.events.find((e) => e.type === 'pageview')!.eventId : parsed.eventId;
    };
    expect(idOf(attempts[0]!)).toBe(stored[0]!.event_id);
    expect(idOf(attempts[1]!)).toBe(stored[0]!.event_id);
    expect(idOf(attempts[2]!)).toBe(stored[0]!.event_id);
    await ctx.close();
  });

  it('keeps working, without errors in the page, when storage is blocked (cookie fallback)', async () => {
    const ctx = await newContext(browser);
    await ctx.addInitScript(() => {
      for (const name of ['localStorage', 'sessionStorage']) {
        Object.defineProperty(window, name, {
          get() {
            throw new DOMException('blocked by the test', 'SecurityError');
          },
        });
      }
    });
    const page = await ctx.newPage();
    const errors = collectPageErrors(page);
    const sent = posted(page, '"type":"pageview"');
    await page.goto(`${site.origin}/`);
    await sent;
    const cookie = (await ctx.cookies(site.origin)).find((c) => c.name === 'mxy_a');
    expect(cookie?.value).toMatch(/^[0-9a-f-]{36}$/);
    // The host page's own history calls still work through the snippet's hook.
    expect(await page.evaluate(() => (history.pushState({ a: 1 }, '', '/x'), history.state))).toEqual({ a: 1 });
    const evs = await storedUntil(cookie!.value, (e) => e.some((x) => x.type === 'pageview' && x.path === '/x'));
    expect(evs.filter((e) => e.type === 'pageview').map((e) => e.path)).toEqual(['/', '/x']);
    expect(errors).toEqual([]);
    await ctx.close();
  });
});

describe('privacy', () => {
  async function requestsDuring(page: Page, action: () => Promise<void>, ms: number): Promise<Request[]> {
    const seen: Request[] = [];
    const onReq = (r: Request) => {
      if (r.url().startsWith(`${t.url}/v/event`) || r.url().startsWith(`${t.url}/p.gif`)) seen.push(r);
    };
    page.on('request', onReq);
    await action();
    await page.waitForTimeout(ms);
    page.off('request', onReq);
    return seen;
  }

  it('sends nothing and stores no id under Do-Not-Track, while the same page without it does', async () => {
    const ctx = await newContext(browser);
    await ctx.addInitScript(() => Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' }));
    const page = await ctx.newPage();
    const errors = collectPageErrors(page);
    const seen = await requestsDuring(
      page,
      async () => {
        await page.goto(`${site.origin}/`);
        await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
        await page.click('#fp');
      },
      1_500,
    );
    expect(seen).toHaveLength(0);
    expect(await page.evaluate(() => localStorage.getItem('mxy_a'))).toBeNull();
    expect(errors).toEqual([]);
    await ctx.close();

    // Control: the same steps without DNT do send, so the silence above is the snippet's doing.
    const ctl = await newContext(browser);
    const p2 = await ctl.newPage();
    const sent = await requestsDuring(
      p2,
      async () => {
        await p2.goto(`${site.origin}/`);
        await p2.click('#fp');
      },
      1_500,
    );
    expect(sent.length).toBeGreaterThan(0);
    await ctl.close();
  });

  it('waits for consent when the tag asks for it, and forgets the visitor when consent is withdrawn', async () => {
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    const before = await requestsDuring(
      page,
      async () => {
        await page.goto(`${site.origin}/?consent=required`);
        await page.click('#fp');
      },
      1_000,
    );
    expect(before).toHaveLength(0);
    expect(await page.evaluate(() => localStorage.getItem('mxy_a'))).toBeNull();

    const granted = posted(page, '"type":"pageview"');
    await page.evaluate(() => (window as unknown as { mxy: (...a: unknown[]) => void }).mxy('consent', true));
    await granted;
    const { visitor } = await ids(page);
    expect(visitor).toMatch(/^[0-9a-f-]{36}$/);
    const evs = await storedUntil(visitor, (e) => e.some((x) => x.type === 'pageview'));
    // The click before consent was not queued for later either.
    expect(evs.map((e) => e.type)).toEqual(['pageview']);

    await page.evaluate(() => (window as unknown as { mxy: (...a: unknown[]) => void }).mxy('consent', false));
    expect(await page.evaluate(() => localStorage.getItem('mxy_a'))).toBeNull();
    const after = await requestsDuring(page, () => page.click('#fp'), 1_000);
    expect(after).toHaveLength(0);
    await ctx.close();
  });
});
