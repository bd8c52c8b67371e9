import { describe, expect, it } from 'vitest';
import { channelOf, countryOf, deviceClass, hostOf, uaFamily } from '../../src/domain/enrich.js';
import { normalizeEvent } from '../../src/domain/event.normalize.js';
import { zBeaconEvent } from '../../src/domain/event.schema.js';

const UA = {
  chromeLinux: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
  chromeAndroidPhone: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36',
  chromeAndroidTablet: 'Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  chromeIos: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1',
  safariIphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  safariIpad: 'Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1',
  safariMac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  firefoxWin: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0',
  firefoxAndroid: 'Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0',
  firefoxAndroidTablet: 'Mozilla/5.0 (Android 13; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0',
  firefoxIos: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15',
  edgeWin: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80',
  edgeAndroid: 'Mozilla/5.0 (Linux; Android 10; HD1913) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 EdgA/124.0.2478.64',
  operaWin: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0',
  samsung: 'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36',
  curl: 'curl/8.5.0',
};

describe('uaFamily', () => {
  it.each([
    ['chromeLinux', 'Chrome'],
    ['chromeAndroidPhone', 'Chrome'],
    ['chromeIos', 'Chrome'],
    ['safariIphone', 'Safari'],
    ['safariMac', 'Safari'],
    ['firefoxWin', 'Firefox'],
    ['firefoxIos', 'Firefox'],
    ['edgeWin', 'Edge'],
    ['edgeAndroid', 'Edge'],
    ['operaWin', 'Opera'],
    ['samsung', 'Samsung Internet'],
    ['curl', 'Other'],
  ] as const)('%s → %s', (ua, family) => {
    expect(uaFamily(UA[ua])).toBe(family);
  });

  it('an empty user agent is Unknown', () => {
    expect(uaFamily('')).toBe('Unknown');
  });
});

describe('deviceClass', () => {
  it.each([
    ['chromeLinux', 'desktop'],
    ['safariMac', 'desktop'],
    ['firefoxWin', 'desktop'],
    ['chromeAndroidPhone', 'mobile'],
    ['safariIphone', 'mobile'],
    ['chromeIos', 'mobile'],
    ['firefoxAndroid', 'mobile'],
    ['edgeAndroid', 'mobile'],
    ['samsung', 'mobile'],
    ['chromeAndroidTablet', 'tablet'],
    ['safariIpad', 'tablet'],
    ['firefoxAndroidTablet', 'tablet'],
  ] as const)('%s → %s', (ua, device) => {
    expect(deviceClass(UA[ua])).toBe(device);
  });

  it('no user agent is unknown', () => {
    expect(deviceClass('')).toBe('unknown');
  });
});

describe('hostOf', () => {
  it('lower-cases the host and drops port, path and credentials', () => {
    expect(hostOf('https://User:pw@WWW.Google.COM:443/search?q=x')).toBe('www.google.com');
    expect(hostOf('http://localhost:8080/a')).toBe('localhost');
  });

  it('is empty for absent or unparsable referrers', () => {
    expect(hostOf(undefined)).toBe('');
    expect(hostOf('')).toBe('');
    expect(hostOf('not a url')).toBe('');
  });
});

describe('channelOf', () => {
  it.each([
    ['', 'acme.example', undefined, 'direct'],
    ['acme.example', 'acme.example', undefined, 'internal'],
    ['www.acme.example', 'acme.example', undefined, 'internal'],
    ['acme.example', 'www.acme.example', undefined, 'internal'],
    ['blog.acme.example', 'www.acme.example', undefined, 'referral'],
    ['www.google.com', 'acme.example', undefined, 'search'],
    ['www.google.co.uk', 'acme.example', undefined, 'search'],
    ['duckduckgo.com', 'acme.example', undefined, 'search'],
    ['www.bing.com', 'acme.example', undefined, 'search'],
    ['com.google.android.googlequicksearchbox', 'acme.example', undefined, 'search'],
    ['mail.google.com', 'acme.example', undefined, 'email'],
    ['com.google.android.gm', 'acme.example', undefined, 'email'],
    ['outlook.live.com', 'acme.example', undefined, 'email'],
    ['outlook.office.com', 'acme.example', undefined, 'email'],
    ['outlook.office365.com', 'acme.example', undefined, 'email'],
    ['mail.yahoo.com', 'acme.example', undefined, 'email'],
    ['l.facebook.com', 'acme.example', undefined, 'social'],
    ['t.co', 'acme.example', undefined, 'social'],
    ['x.com', 'acme.example', undefined, 'social'],
    ['www.linkedin.com', 'acme.example', undefined, 'social'],
    ['lnkd.in', 'acme.example', undefined, 'social'],
    ['m.youtube.com', 'acme.example', undefined, 'social'],
    ['youtu.be', 'acme.example', undefined, 'social'],
    ['fox.com', 'acme.example', undefined, 'referral'],
    ['news.ycombinator.com', 'acme.example', undefined, 'referral'],
    ['www.rightmove.co.uk', 'acme.example', undefined, 'referral'],
    ['www.rightmove.co.uk', 'acme.example', 'email', 'email'],
    ['', 'acme.example', 'E-Mail', 'email'],
    ['', 'acme.example', 'cpc', 'direct'],
  ] as const)('referrer %s on %s (utm_medium=%s) → %s', (ref, page, medium, channel) => {
    expect(channelOf(ref, page, medium)).toBe(channel);
  });
});

describe('countryOf', () => {
  it('takes a two-letter code from the proxy header, upper-cased', () => {
    expect(countryOf('gb')).toBe('GB');
    expect(countryOf(' DE ')).toBe('DE');
  });

  it('drops unknown, Tor and malformed values', () => {
    expect(countryOf(undefined)).toBe('');
    expect(countryOf('XX')).toBe('');
    expect(countryOf('T1')).toBe('');
    expect(countryOf('GBR')).toBe('');
    expect(countryOf('1A')).toBe('');
  });
});

describe('normalizeEvent enrichment', () => {
  const base = zBeaconEvent.parse({
    account: 'acme',
    type: 'pageview',
    sessionId: 's-1',
    visitorId: 'v-1',
    path: '/listings/12-high-st',
    url: 'https://www.acme.example/listings/12-high-st?utm_medium=email',
    referrer: 'https://www.google.com/search?q=12+high+st',
    ts: 1_000_000,
  });
  const ctx = { receivedAt: 1_000_500, userAgent: UA.safariIphone, ipHash: 'h-abc', countryHeader: 'gb' };

  it('fills ua family, device, referrer host, channel and country, and never the raw IP', () => {
    const s = normalizeEvent(base, 'acme', ctx);
    expect(s).toMatchObject({
      ua_family: 'Safari',
      device: 'mobile',
      referrer_host: 'www.google.com',
      // utm_medium=email on the landing URL wins over the search referrer.
      channel: 'email',
      country: 'GB',
      ip_hash: 'h-abc',
      ts: '1970-01-01 00:16:40.000',
    });
    expect(JSON.stringify(s)).not.toMatch(/\d+\.\d+\.\d+\.\d+/);
  });

  it('a same-site referrer is internal, with or without www', () => {
    const s = normalizeEvent({ ...base, url: 'https://acme.example/a', referrer: 'https://www.acme.example/b' }, 'acme', ctx);
    expect(s.channel).toBe('internal');
    expect(s.referrer_host).toBe('www.acme.example');
  });

  it('no country header gives no country', () => {
    expect(normalizeEvent(base, 'acme', { ...ctx, countryHeader: undefined }).country).toBe('');
  });
});
