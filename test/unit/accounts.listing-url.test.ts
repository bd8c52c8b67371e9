import { describe, expect, it } from 'vitest';
import { zAccount } from '../../src/domain/account.js';
import { listingLocation } from '../../src/gateway/identity.routes.js';

describe('listingUrl templates', () => {
  it('an absolute URL or a path on the gateway itself', () => {
    expect(zAccount.safeParse({ id: 'a', listingUrl: 'https://acme.example/listings/{slug}' }).success).toBe(true);
    const local = zAccount.parse({ id: 'a', listingUrl: '/?listing={slug}' });
    expect(listingLocation(local, '12-high-st')).toBe('/?listing=12-high-st');
  });

  it('never a protocol-relative or backslash path (another host), never without {slug}', () => {
    for (const listingUrl of ['//evil.example/{slug}', '/\\evil.example/{slug}', 'evil.example/{slug}', '/listings/', '']) {
      expect(zAccount.safeParse({ id: 'a', listingUrl }).success, listingUrl).toBe(false);
    }
  });
});
