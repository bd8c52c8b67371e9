/**
 * Browser-test helpers: Debian's chromium through playwright-core, and a tiny test site on a
 * free loopback port whose pages carry the snippet tag pointing at the gateway under test.
 */
import http from 'node:http';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** A normal desktop Chrome UA: headless Chromium's own says "HeadlessChrome" and the gateway drops bots. */
export const DESKTOP_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';

export const SCREENSHOT_DIR = path.resolve('test-results/screenshots');

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // The context's userAgent is applied per page; a beacon sent while a page unloads on
      // navigation goes out with the browser-wide default ("HeadlessChrome"), which the gateway drops.
      `--user-agent=${DESKTOP_UA}`,
    ],
  });
}

export async function newContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ userAgent: DESKTOP_UA, viewport: { width: 1280, height: 720 } });
}

/** Errors the page itself saw (uncaught exceptions): the snippet must never cause one. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export interface TestSite {
  origin: string;
  port: number;
  /** Set once the gateway is up: the snippet's src is `${gatewayUrl}/t.js`. */
  gatewayUrl: string;
  account: string;
  close(): Promise<void>;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The site's pages. Query parameters of the page URL tune the snippet tag:
 * `hb` → data-heartbeat-ms, `consent` → data-consent, `segment` → data-segment.
 */
function page(site: TestSite, url: URL, title: string, main: string, head = ''): string {
  const attrs = [`data-account="${esc(site.account)}"`];
  const hb = url.searchParams.get('hb');
  if (hb) attrs.push(`data-heartbeat-ms="${esc(hb)}"`);
  const consent = url.searchParams.get('consent');
  if (consent) attrs.push(`data-consent="${esc(consent)}"`);
  const segment = url.searchParams.get('segment');
  if (segment) attrs.push(`data-segment="${esc(segment)}"`);
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title>${head}
<script src="${esc(site.gatewayUrl)}/t.js" ${attrs.join(' ')} async></script>
<style>body{font-family:sans-serif;margin:0} .tall{height:3000px;background:linear-gradient(#fff,#ddd)}</style>
</head><body>
<nav><a id="home" href="/">Home</a> <a id="about" href="/about">About</a></nav>
<main id="main">${main}</main>
<div class="tall"></div>
<footer id="end">end of page</footer>
</body></html>`;
}

const HOME = `
<h1>Homes for sale</h1>
<div data-track="floorplan" class="plan"><span id="fp">Floor plan of 12 High St</span></div>
<button id="spa" type="button">Open 12 High St (in-app)</button>
<a id="brochure" href="/files/brochure.pdf">Brochure (PDF)</a>
<a id="out" href="http://localhost:1/elsewhere">Partner site</a>
<form id="contact" data-track="contact-form" action="/thanks?x=1" method="get"><input name="email" value="secret@example.com"><button id="send" type="submit">Send</button></form>
<script>
document.getElementById('spa').addEventListener('click', function () {
  history.pushState({}, '', '/listings/12-high-st');
  var m = document.createElement('meta'); m.name = 'mxy:listing'; m.content = '12-high-st'; document.head.appendChild(m);
  document.title = '12 High St';
  document.querySelector('h1').textContent = '12 High St';
});
// The test page stays put: these links and the form are measured, not followed.
['brochure', 'out'].forEach(function (id) { document.getElementById(id).addEventListener('click', function (e) { e.preventDefault(); }); });
document.getElementById('contact').addEventListener('submit', function (e) { e.preventDefault(); });
</script>`;

/** Start the site on a free loopback port (before the service, whose listingUrl points here). */
export async function startTestSite(account: string): Promise<TestSite> {
  const site: TestSite = { origin: '', port: 0, gatewayUrl: '', account, close: async () => undefined };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', site.origin);
    const send = (status: number, html: string) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(html);
    };
    if (url.pathname === '/') return send(200, page(site, url, 'Homes for sale', HOME));
    if (url.pathname === '/about') return send(200, page(site, url, 'About us', '<h1>About us</h1><p>We sell homes.</p>'));
    const listing = /^\/listings\/([a-z0-9-]{1,64})$/.exec(url.pathname);
    if (listing) {
      const slug = listing[1]!;
      return send(
        200,
        page(
          site,
          url,
          `Listing ${slug}`,
          `<h1>Listing ${esc(slug)}</h1><div data-track="floorplan"><span id="fp">Floor plan</span></div>`,
          `<meta name="mxy:listing" content="${esc(slug)}">`,
        ),
      );
    }
    if (url.pathname === '/blank') return send(200, '<!doctype html><title>blank</title><p>no snippet here</p>');
    send(404, '<!doctype html><title>not found</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  site.port = (server.address() as AddressInfo).port;
  site.origin = `http://127.0.0.1:${site.port}`;
  site.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return site;
}
