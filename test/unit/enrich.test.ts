import { describe, expect, it } from 'vitest';
import { channelOf, countryOf, deviceClass, hostOf, uaFamily } from '../../src/domain/enrich.js';

describe('enrichment', () => {
  it.each([
    ['Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/124.0 Safari/537.36 Edg/124.0', 'Edge'],
    ['Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/124.0 Safari/537.36', 'Chrome'],
    ['Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0', 'Firefox'],
    ['Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15', 'Safari'],
    ['', 'Unknown'],
  ])('ua family of %s is %s', (ua, fam) => expect(uaFamily(ua)).toBe(fam));

  it('classifies devices', () => {
    expect(deviceClass('Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148')).toBe('mobile');
    expect(deviceClass('Mozilla/5.0 (iPad; CPU OS 17_0)')).toBe('tablet');
    expect(deviceClass('Mozilla/5.0 (Linux; Android 14; SM-X200)')).toBe('tablet');
    expect(deviceClass('Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile')).toBe('mobile');
    expect(deviceClass('Mozilla/5.0 (X11; Linux x86_64)')).toBe('desktop');
  });

  it('derives channel from referrer host relative to the page host', () => {
    expect(channelOf('', 'acme.example')).toBe('direct');
    expect(channelOf('acme.example', 'acme.example')).toBe('internal');
    expect(channelOf('www.google.co.uk', 'acme.example')).toBe('search');
    expect(channelOf('l.facebook.com', 'acme.example')).toBe('social');
    expect(channelOf('blog.other.org', 'acme.example')).toBe('referral');
    expect(channelOf('blog.other.org', 'acme.example', 'email')).toBe('email');
    expect(hostOf('not a url')).toBe('');
  });

  it('accepts only two-letter country codes from proxy headers', () => {
    expect(countryOf('gb')).toBe('GB');
    expect(countryOf('XX')).toBe('');
    expect(countryOf('United Kingdom')).toBe('');
    expect(countryOf(undefined)).toBe('');
  });
});
