/**
 * Visitor enrichment that needs no outside service: user-agent family and device class,
 * referrer host and acquisition channel. Rules are ordered: the first match wins.
 */

const UA_FAMILIES: [RegExp, string][] = [
  [/Edg(e|A|iOS)?\//, 'Edge'],
  [/OPR\/|Opera/, 'Opera'],
  [/SamsungBrowser\//, 'Samsung Internet'],
  [/Firefox\/|FxiOS\//, 'Firefox'],
  [/Chrome\/|CriOS\/|Chromium\//, 'Chrome'],
  [/Safari\//, 'Safari'],
];

export function uaFamily(ua: string): string {
  for (const [re, name] of UA_FAMILIES) if (re.test(ua)) return name;
  return ua ? 'Other' : 'Unknown';
}

export function deviceClass(ua: string): 'mobile' | 'tablet' | 'desktop' | 'unknown' {
  if (!ua) return 'unknown';
  if (/iPad|Tablet|Android(?!.*Mobile)/i.test(ua)) return 'tablet';
  if (/Mobi|iPhone|Android/i.test(ua)) return 'mobile';
  return 'desktop';
}

export function hostOf(url: string | undefined): string {
  if (!url) return '';
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return '';
  }
}

const SEARCH = /(^|\.)(google|bing|duckduckgo|yahoo|baidu|yandex|ecosia|qwant|startpage)\./;
const SOCIAL = /(^|\.)((facebook|fb|instagram|twitter|x|t|linkedin|lnkd|reddit|pinterest|tiktok|youtube|whatsapp|threads)\.(com|co|in|net|me)|youtu\.be)$/;
// Webmail hosts, and the Gmail Android app (`android-app://com.google.android.gm/`), which the
// search rule would otherwise take for Google.
const EMAIL = /(^|\.)(mail\.google|outlook\.live|outlook\.office(365)?|mail\.yahoo|mail\.proton|webmail)\.|^com\.google\.android\.gm$/;

/** `www.` does not make a different site: `www.acme.example` and `acme.example` are one. */
function siteHost(host: string): string {
  return host.startsWith('www.') ? host.slice(4) : host;
}

export type Channel = 'direct' | 'internal' | 'search' | 'social' | 'email' | 'referral';

/** Acquisition channel from the referrer host, relative to the page's own host. */
export function channelOf(referrerHost: string, pageHost: string, utmMedium?: string): Channel {
  if (utmMedium && /^e-?mail$/i.test(utmMedium)) return 'email';
  if (!referrerHost) return 'direct';
  // Same site: equal up to `www.`, or a subdomain of the page's own (apex) host.
  const site = siteHost(pageHost);
  if (site && (siteHost(referrerHost) === site || (pageHost === site && referrerHost.endsWith(`.${site}`)))) return 'internal';
  if (EMAIL.test(referrerHost)) return 'email';
  if (SEARCH.test(referrerHost)) return 'search';
  if (SOCIAL.test(referrerHost)) return 'social';
  return 'referral';
}

/** ISO 3166 alpha-2 from a proxy header value, or '' when absent or not a country code. */
export function countryOf(header: string | undefined): string {
  const c = (header ?? '').trim().toUpperCase();
  return /^[A-Z]{2}$/.test(c) && c !== 'XX' && c !== 'T1' ? c : '';
}
