/**
 * Presence and the operator page in a real browser: a visitor's tab joins and leaves the live
 * feed, the operator page follows it without a refresh, and a signed link turns the anonymous
 * visitor into a known person on that page. Screenshots go to test-results/screenshots/.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { beacon, eventually, postEvent, randomId, rows } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { collectPageErrors, launchBrowser, newContext, screenshot, startTestSite, type TestSite } from './browser.js';

const account = randomId('acct');
/** A second account with seeded history only, for the charts. */
const chartAccount = randomId('acct');
let site: TestSite;
let browser: Browser;

const t = useTestService(async (fx) => {
  // The site first: the account's listingUrl points at it, so a click link lands on a page with the snippet.
  site = fx.track(await startTestSite(account));
  return { accounts: [account, chartAccount], accountFields: { [account]: { listingUrl: `${site.origin}/listings/{slug}` } } };
});

beforeAll(async () => {
  site.gatewayUrl = t.url;
  browser = t.fx.track(await launchBrowser());
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
async function openOperator(adminKey = t.account.adminKey): Promise<{ ctx: BrowserContext; page: Page; errors: string[] }> {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  const errors = collectPageErrors(page);
  await page.goto(`${t.url}/`);
  await page.fill('#key-input', adminKey);
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
    // No recommendation shown or clicked yet: the card says exactly that.
    expect(await op.page.textContent('#ctr-body')).toBe('no recommendations shown in this window');
    await screenshot(op.page, 'operator-live-visitor');

    await visitorPage.close();
    await eventually(async () => (await onlineTotal(op.page)) === before, 15_000);
    expect(await op.page.locator(`#visitors-body tr[data-visitor="${visitor}"]`).count()).toBe(0);
    // The open timeline picks up the visitor's final `leave` (stored after the live feed said so).
    await eventually(async () => {
      const types = await op.page.locator('#timeline-body li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-type')));
      return types[types.length - 1] === 'leave';
    }, 30_000);
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
    await eventually(
      async () => {
        await op.page.click('#refresh');
        await op.page.waitForTimeout(300);
        return (
          (await op.page.locator(`#briefing-body [data-person="${person}"]`).count()) > 0 &&
          (await op.page.locator(`#engagement-body [data-person="${person}"]`).count()) > 0
        );
      },
      20_000,
      500,
    );
    // "… ago" keeps counting between report refreshes. A refresh still in flight may redraw the
    // briefing with a later time meanwhile; the same time must read older.
    const agoEl = op.page.locator('#briefing-body time[data-ago]').first();
    const [atBefore, agoBefore] = [await agoEl.getAttribute('data-ago'), await agoEl.textContent()];
    await op.page.waitForTimeout(2_500);
    if ((await agoEl.getAttribute('data-ago')) === atBefore) expect(await agoEl.textContent()).not.toBe(agoBefore);
    // A click on a recommended link, with no impression reported: no rate, no "1 click of 0 shown".
    const ctrText = (await op.page.textContent('#ctr-body')) ?? '';
    expect(ctrText).toContain('no recommendations shown in this window');
    expect(ctrText).toContain('1 click on recommended links without a recorded impression');
    expect(ctrText).not.toMatch(/of 0 shown|[–▬]/);
    expect(await op.page.locator('#ctr-overall').count()).toBe(0);
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

interface ChartState {
  points: number;
  series: number;
  last: (number | null)[];
  totals: number[];
}

async function chartState(page: Page, id: string): Promise<ChartState> {
  return page.$eval(`#${id}`, (el) => {
    const d = (el as HTMLElement).dataset;
    return { points: Number(d.points), series: Number(d.series), last: JSON.parse(d.last ?? '[]'), totals: JSON.parse(d.totals ?? '[]') };
  });
}

/** Pixels of a chart's canvas drawn in something other than the background. */
async function inkedPixels(page: Page, id: string): Promise<number> {
  return page.$eval(`#${id} canvas`, (c) => {
    const canvas = c as HTMLCanvasElement;
    const px = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) n++;
    return n;
  });
}

describe('the charts', () => {
  const HOUR = 3_600_000;
  /** Per-minute concurrency samples seeded for the twelve to five minutes before the start. */
  const SAMPLES = [2, 3, 5, 4, 3, 6, 4, 2];
  let key: string;

  beforeAll(async () => {
    key = t.accounts[1]!.adminKey;
    const post = (path: string, body: unknown) =>
      fetch(`${t.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    // Ten minutes into the hour three hours ago: clear of bucket edges.
    const base = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR + 10 * 60_000;
    // History goes straight into the events table (its views fire as on any insert): sent through
    // ingest, these old events would count their visitors as online now.
    const chTs = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
    const ev = (type: string, ts: number, visitorId: string, path: string, extra: Record<string, unknown> = {}) => ({
      account_id: chartAccount,
      event_id: crypto.randomUUID(),
      ts: chTs(ts),
      received_at: chTs(ts),
      type,
      session_id: `s-${visitorId}`,
      visitor_id: visitorId,
      path,
      // Every row names the same columns: the insert takes its column list from the first row.
      title: '',
      label: '',
      listing: '',
      rec_id: '',
      ...extra,
    });
    const events = [
      // 4 views by 2 visitors, then 2 views by 1, then 1 view and a click on a recommendation.
      ...[0, 1, 2, 3].map((i) => ev('pageview', base + i * 1000, i % 2 ? 'v2' : 'v1', '/', { title: 'Homes for sale' })),
      ev('pageview', base + HOUR, 'v3', '/listings/12-high-st', { title: '12 High St' }),
      ev('pageview', base + HOUR + 1000, 'v3', '/listings/12-high-st', { title: '12 High St' }),
      ev('pageview', base + 2 * HOUR, 'v1', '/about', { title: 'About us' }),
      ev('click', base + 2 * HOUR + 5000, 'v1', '/about', { label: 'recommendation', listing: 'a', rec_id: 'r1', session_id: 's-rec' }),
    ];
    await t.ch.insert({ table: 'events', format: 'JSONEachRow', values: events });
    const shown = ['a', 'b', 'c', 'd'].map((listing) => ({ listing, recId: 'r1', sessionId: 's-rec', ts: base + 2 * HOUR }));
    expect((await post('/api/recommendations', { recommendations: shown })).status).toBe(202);
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    await t.ch.insert({
      table: 'presence_samples',
      format: 'JSONEachRow',
      values: SAMPLES.map((online, i) => ({
        account_id: chartAccount,
        ts: new Date(minute - (12 - i) * 60_000).toISOString().slice(0, 19).replace('T', ' '),
        online,
        authenticated: 0,
        anonymous: online,
        peak: online,
        cross_segment: 0,
      })),
    });
    await eventually(async () => {
      const r = await rows<{ n: number }>(t.ch, 'SELECT count() AS n FROM events WHERE account_id = {a:String}', { a: chartAccount });
      const recs = await rows(t.ch, 'SELECT 1 FROM recommendations WHERE account_id = {a:String}', { a: chartAccount });
      return Number(r[0]?.n) === events.length && recs.length === shown.length;
    }, 20_000);
  });

  it('draw the seeded history: traffic per hour, top pages as bars, CTR per day, concurrency per minute', async () => {
    const op = await openOperator(key);
    const page = op.page;
    await page.waitForFunction(() => ['chart-traffic', 'chart-ctr', 'chart-online'].every((id) => document.getElementById(id)?.dataset.points));

    // Page views and visitors per hour over 48 hours: bars and a line, every hour present.
    const traffic = await chartState(page, 'chart-traffic');
    expect(traffic.series).toBe(2);
    expect(traffic.points).toBeGreaterThanOrEqual(48);
    expect(traffic.totals).toEqual([7, 4]);
    expect(await inkedPixels(page, 'chart-traffic')).toBeGreaterThan(500);
    // Per day: the same views in one or two buckets (today, and yesterday after midnight).
    await page.selectOption('#traffic-bucket', 'day');
    await eventually(async () => (await chartState(page, 'chart-traffic')).points <= 31);
    const daily = await chartState(page, 'chart-traffic');
    expect(daily.totals[0]).toBe(7);
    // Three visitors in a day; four when the seeded hours straddle midnight (v1 on both days).
    expect([3, 4]).toContain(daily.totals[1]);
    await page.selectOption('#traffic-bucket', 'hour');
    await eventually(async () => (await chartState(page, 'chart-traffic')).points >= 48);

    // Top pages: one bar each, most viewed first, lengths in proportion to the views.
    const bars = await page.$$eval('#top-pages li', (lis) =>
      lis.map((li) => ({
        path: li.getAttribute('data-path'),
        views: Number(li.getAttribute('data-views')),
        ratio:
          (li.querySelector('.fill') as HTMLElement).getBoundingClientRect().width / (li.querySelector('.bar') as HTMLElement).getBoundingClientRect().width,
      })),
    );
    expect(bars.map((b) => [b.path, b.views])).toEqual([
      ['/', 4],
      ['/listings/12-high-st', 2],
      ['/about', 1],
    ]);
    expect(bars[0]!.ratio).toBeCloseTo(1, 2);
    expect(bars[1]!.ratio).toBeCloseTo(0.5, 1);
    expect(bars[2]!.ratio).toBeCloseTo(0.25, 1);
    expect(await page.textContent('#top-pages li[data-path="/"] .bar-label')).toContain('Homes for sale');

    // Recommendations: 1 click of 4 shown, per day and overall.
    const ctr = await chartState(page, 'chart-ctr');
    expect(ctr.series).toBe(3);
    expect(ctr.totals).toEqual([4, 1, 25]);
    expect(await page.textContent('#ctr-overall')).toBe('25.0 %');
    expect(await inkedPixels(page, 'chart-ctr')).toBeGreaterThan(200);

    // Concurrency: the seeded samples, then the live count (nobody online now) at the end.
    const online = await chartState(page, 'chart-online');
    expect(online.totals).toEqual([SAMPLES.reduce((a, b) => a + b, 0)]);
    expect(online.last).toEqual([0]);
    expect(online.points).toBeGreaterThanOrEqual(SAMPLES.length + 1);
    expect(await inkedPixels(page, 'chart-online')).toBeGreaterThan(500);
    // Nobody online: the live cards say so rather than stay blank; so does every other card.
    expect(await page.textContent('#visitors-empty')).toBe('nobody online right now');
    expect(await page.isVisible('#visitors-empty')).toBe(true);
    expect(await page.textContent('#pages-empty')).toBe('nobody online right now');
    const blank = await page.$$eval('section.card', (cards) =>
      cards
        .filter((c) => (c as HTMLElement).innerText.trim() === (c.querySelector('h2') as HTMLElement).innerText.trim())
        .map((c) => c.getAttribute('aria-labelledby')),
    );
    expect(blank).toEqual([]);
    await screenshot(page, 'operator-charts');
    expect(op.errors).toEqual([]);
    await op.ctx.close();
  });

  it('move the concurrency line when a visitor comes and goes, without a reload', async () => {
    const op = await openOperator(key);
    const page = op.page;
    await page.waitForFunction(() => document.getElementById('chart-online')?.dataset.last === '[0]');
    const origin = t.accounts[1]!.origin;

    const tab = { visitorId: randomId('v'), sessionId: randomId('s'), path: '/' };
    const join = await postEvent(t.url, beacon(chartAccount, { type: 'heartbeat', ...tab }), { origin });
    expect(join.status).toBe(204);
    await eventually(async () => (await chartState(page, 'chart-online')).last[0] === 1);
    expect(await page.textContent('#online-total')).toBe('1');
    await screenshot(page, 'operator-charts-live');

    const leave = await postEvent(t.url, beacon(chartAccount, { type: 'leave', ...tab }), { origin });
    expect(leave.status).toBe(204);
    await eventually(async () => (await chartState(page, 'chart-online')).last[0] === 0, 15_000);
    expect(op.errors).toEqual([]);
    await op.ctx.close();
  });
});
