/**
 * Presence and the operator page in a real browser: a visitor's tab joins and leaves the live
 * feed, the operator page follows it without a refresh, and a signed link turns the anonymous
 * visitor into a known person on that page. Screenshots go to test-results/screenshots/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { eventually, randomId, removeTestData, rows, startTestService, type TestService } from '../support/services.js';
import { collectPageErrors, launchBrowser, newContext, screenshot, startTestSite, type TestSite } from './browser.js';

let t: TestService;
let site: TestSite;
let browser: Browser;
let account: string;

beforeAll(async () => {
  account = randomId('acct');
  // The site first: the account's listingUrl points at it, so a click link lands on a page with the snippet.
  site = await startTestSite(account);
  t = await startTestService({ accounts: [account], accountFields: { [account]: { listingUrl: `${site.origin}/listings/{slug}` } } });
  site.gatewayUrl = t.url;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await t?.stop();
  if (t) await removeTestData(t);
});

interface LiveMsg {
  type: string;
  visitorId?: string;
  visitor?: { visitorId: string; personId: string | null; path: string };
  online?: number;
  reason?: string;
  [k: string]: unknown;
}

/** A `/live` client that keeps every message, with a way to wait for one. */
async function openLive(): Promise<{ messages: LiveMsg[]; next(pred: (m: LiveMsg) => boolean, timeoutMs?: number): Promise<LiveMsg>; close(): void }> {
  const ws = new WebSocket(`${t.url.replace(/^http/, 'ws')}/live?account=${account}&key=${encodeURIComponent(t.account.adminKey)}`);
  const messages: LiveMsg[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(String(data)) as LiveMsg));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`/live answered ${res.statusCode}`)));
  });
  return {
    messages,
    next: (pred, timeoutMs = 15_000) => eventually(() => messages.find(pred), timeoutMs),
    close: () => ws.close(),
  };
}

async function visitorIds(page: Page): Promise<{ visitor: string; session: string }> {
  return page.evaluate(() => ({
    visitor: localStorage.getItem('mxy_a') ?? '',
    session: (sessionStorage.getItem('mxy_s') ?? '').split('|')[0] ?? '',
  }));
}

/** The operator page, signed in with the account's admin key, once its live feed is connected. */
async function openOperator(): Promise<{ ctx: BrowserContext; page: Page; errors: string[] }> {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  const errors = collectPageErrors(page);
  await page.goto(`${t.url}/`);
  await page.fill('#key-input', t.account.adminKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('#live-status[data-state="live"]', { timeout: 15_000 });
  await page.waitForFunction(() => /^\d+$/.test(document.getElementById('online-total')?.textContent ?? ''), undefined, { timeout: 10_000 });
  return { ctx, page, errors };
}

async function onlineTotal(page: Page): Promise<number> {
  return Number(await page.textContent('#online-total'));
}

describe('presence from a real tab', () => {
  it('joins the live feed when the page loads and leaves when the tab closes', async () => {
    const live = await openLive();
    const snapshot = await live.next((m) => m.type === 'snapshot');
    expect(live.messages[0]!.type).toBe('snapshot');

    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    await page.goto(`${site.origin}/?hb=1000`);
    await page.waitForFunction(() => localStorage.getItem('mxy_a') !== null);
    const { visitor, session } = await visitorIds(page);

    const join = await live.next((m) => m.type === 'join' && m.visitor?.visitorId === visitor);
    expect(join.visitor).toMatchObject({ visitorId: visitor, sessionId: session, personId: null, path: '/' });
    expect(join.online).toBe((snapshot.online as number) + 1);

    await page.close();
    const leave = await live.next((m) => m.type === 'leave' && m.visitorId === visitor);
    expect(leave.reason).toBe('leave');
    expect(leave.online).toBe(snapshot.online);
    // Exactly one of each for this visitor.
    expect(live.messages.filter((m) => m.type === 'join' && m.visitor?.visitorId === visitor)).toHaveLength(1);
    expect(live.messages.filter((m) => m.type === 'leave' && m.visitorId === visitor)).toHaveLength(1);
    live.close();
    await ctx.close();
  });
});

describe('the operator page', () => {
  it('shows the online count, the visitor and their page change live, and a session timeline on click', async () => {
    const op = await openOperator();
    const before = await onlineTotal(op.page);

    const vctx = await newContext(browser);
    const visitorPage = await vctx.newPage();
    await visitorPage.goto(`${site.origin}/?hb=1000`);
    await visitorPage.waitForFunction(() => localStorage.getItem('mxy_a') !== null);
    const { visitor, session } = await visitorIds(visitorPage);

    // No reload of the operator page from here on: everything arrives over /live.
    await eventually(async () => (await onlineTotal(op.page)) === before + 1);
    const row = op.page.locator(`#visitors-body tr[data-visitor="${visitor}"]`);
    await row.waitFor({ timeout: 10_000 });
    expect(await row.locator('td.path').first().textContent()).toContain('/');
    expect(await op.page.textContent('#online-anon')).toBe(String(before + 1));
    await op.page.locator('#pages-body tr[data-path="/"]').waitFor({ timeout: 10_000 });

    // The visitor moves on (SPA route): the row follows.
    await visitorPage.click('#spa');
    await eventually(async () => ((await row.locator('td.path').first().textContent()) ?? '').startsWith('/listings/12-high-st'));
    await visitorPage.click('#fp');
    await visitorPage.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));

    // Click the row: the session's timeline comes from /api/sessions/:id.
    await row.click();
    await eventually(async () => {
      const types = await op.page.locator('#timeline-body li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-type')));
      return types.includes('pageview') && types.includes('click') && types.includes('nav');
    }, 15_000);
    expect(await op.page.textContent('#timeline-title')).toContain(session.slice(0, 8));
    expect(await op.page.textContent('#timeline-body')).toContain('“floorplan”');
    await screenshot(op.page, 'operator-live-visitor');

    await visitorPage.close();
    await eventually(async () => (await onlineTotal(op.page)) === before, 15_000);
    expect(await op.page.locator(`#visitors-body tr[data-visitor="${visitor}"]`).count()).toBe(0);
    expect(op.errors).toEqual([]);
    await vctx.close();
    await op.ctx.close();
  });

  it('asks for the admin key and refuses a wrong one', async () => {
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    await page.goto(`${t.url}/`);
    expect(await page.isVisible('#key-panel')).toBe(true);
    expect(await page.isVisible('#board')).toBe(false);
    await page.fill('#key-input', 'not-the-key');
    await page.click('#key-form button[type="submit"]');
    await page.waitForFunction(() => (document.getElementById('key-error')?.textContent ?? '').includes('refused'));
    expect(await page.isVisible('#board')).toBe(false);
    expect(await page.evaluate(() => localStorage.getItem('mxy_admin_key'))).toBeNull();
    await ctx.close();
  });
});

describe('the signed link in the browser', () => {
  it('turns the anonymous visitor into the person, on the operator page and in ClickHouse', async () => {
    const person = randomId('p');
    const minted = await fetch(`${t.url}/api/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.account.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ personId: person }),
    });
    expect(minted.status).toBe(200);
    const { token } = (await minted.json()) as { token: string };

    const op = await openOperator();
    const vctx = await newContext(browser);
    const page = await vctx.newPage();
    const errors = collectPageErrors(page);

    // First an anonymous visit.
    await page.goto(`${site.origin}/?hb=1000`);
    await page.waitForFunction(() => localStorage.getItem('mxy_a') !== null);
    const { visitor, session } = await visitorIds(page);
    const row = op.page.locator(`#visitors-body tr[data-visitor="${visitor}"]`);
    await row.waitFor({ timeout: 10_000 });
    expect(await row.getAttribute('data-person')).toBeNull();

    // The link from an email: the gateway sets mxy_v and redirects to the listing on the site.
    await page.goto(`${t.url}/listings/12-high-st/click?account=${account}&session=${session}&v=${encodeURIComponent(token)}&rec=r1`);
    expect(page.url()).toBe(`${site.origin}/listings/12-high-st`);
    const cookie = (await vctx.cookies(t.url)).find((c) => c.name === 'mxy_v');
    expect(cookie?.value).toBe(token);
    expect(cookie?.httpOnly).toBe(true);

    // Back on the site: the same browser is now the person.
    await page.goto(`${site.origin}/?hb=1000`);
    expect((await visitorIds(page)).visitor).toBe(visitor);
    await eventually(async () => (await row.getAttribute('data-person')) === person, 15_000);
    expect(await row.locator('.person').textContent()).toBe(person);
    await eventually(async () => Number(await op.page.textContent('#online-auth')) >= 1);
    await screenshot(op.page, 'operator-known-person');

    // Stored events of this browser after the click carry the person.
    const stored = await eventually(async () => {
      const r = await rows<{ type: string; path: string; person_id: string }>(
        t.ch,
        `SELECT type, path, person_id FROM events WHERE account_id = {a:String} AND visitor_id = {v:String} AND type = 'pageview' ORDER BY ts`,
        { a: account, v: visitor },
      );
      return r.length >= 3 ? r : undefined;
    });
    expect(stored.map((r) => [r.path, r.person_id])).toEqual([
      ['/', ''],
      ['/listings/12-high-st', person],
      ['/', person],
    ]);

    // The reports name the person too, once the views have settled.
    await eventually(async () => {
      await op.page.click('#refresh');
      await op.page.waitForTimeout(300);
      return (await op.page.locator(`#briefing-body [data-person="${person}"]`).count()) > 0 && (await op.page.locator(`#engagement-body [data-person="${person}"]`).count()) > 0;
    }, 20_000, 500);
    // A person in the briefing opens their newest session (recent-by-person, then session-detail).
    await op.page.locator(`#briefing-body tr:has([data-person="${person}"])`).click();
    await eventually(async () => ((await op.page.textContent('#timeline-body')) ?? '').includes(`person ${person}`), 15_000);
    expect(await op.page.textContent('#timeline-title')).toContain(person);
    expect(await op.page.locator('#timeline-body li[data-type="pageview"]').count()).toBeGreaterThanOrEqual(1);
    await screenshot(op.page, 'operator-reports');
    expect(errors).toEqual([]);
    expect(op.errors).toEqual([]);
    await vctx.close();
    await op.ctx.close();
  });
});
