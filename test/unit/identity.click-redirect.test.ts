import { describe, expect, it } from 'vitest';
import { zAccount } from '../../src/domain/account.js';
import { listingLocation, zIdentifyBody, zMintTokenBody } from '../../src/gateway/identity.routes.js';

const account = zAccount.parse({ id: 'acme', listingUrl: 'https://acme.example/listings/{slug}?src=rec' });

describe('click redirect target', () => {
  it('is the account template with the slug in place', () => {
    expect(listingLocation(account, '12-high-st')).toBe('https://acme.example/listings/12-high-st?src=rec');
    expect(listingLocation(account, 'a.b~c_d')).toBe('https://acme.example/listings/a.b~c_d?src=rec');
  });

  it('never leaves the template: slugs that could change the URL are refused', () => {
    for (const slug of ['//evil.example', 'https://evil.example', '..', '.', 'a/b', 'a?b', 'a#b', '%2F', 'a b', '', 'x'.repeat(257), '$&', '\\evil']) {
      expect(listingLocation(account, slug), slug).toBeUndefined();
    }
  });

  it('is undefined for an account without a template', () => {
    expect(listingLocation(zAccount.parse({ id: 'bare' }), 'x')).toBeUndefined();
  });
});

describe('identity API bodies', () => {
  it('mint: person id required, ttl at most 365 days', () => {
    expect(zMintTokenBody.safeParse({ personId: 'p-1' }).success).toBe(true);
    expect(zMintTokenBody.safeParse({ personId: 'p-1', ttlMs: 365 * 86_400_000 }).success).toBe(true);
    expect(zMintTokenBody.safeParse({ personId: 'p-1', ttlMs: 365 * 86_400_000 + 1 }).success).toBe(false);
    expect(zMintTokenBody.safeParse({ personId: 'p 1' }).success).toBe(false);
    expect(zMintTokenBody.safeParse({}).success).toBe(false);
  });

  it('identify: confidence defaults to 1 and stays within 0..1', () => {
    expect(zIdentifyBody.parse({ visitorId: 'v-1', personId: 'p-1' })).toEqual({ visitorId: 'v-1', personId: 'p-1', confidence: 1 });
    expect(zIdentifyBody.safeParse({ visitorId: 'v-1', personId: 'p-1', confidence: 1.5 }).success).toBe(false);
    expect(zIdentifyBody.safeParse({ visitorId: '', personId: 'p-1' }).success).toBe(false);
  });
});
