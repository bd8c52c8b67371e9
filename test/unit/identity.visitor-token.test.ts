import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TOKEN_TTL_MS,
  expiryFor,
  MAX_TOKEN_TTL_MS,
  parseToken,
  revokedByErasure,
  signToken,
  tokenCookie,
  verifyToken,
} from '../../src/domain/visitor-token.js';

const NOW = Date.UTC(2026, 10, 20, 8, 0, 0);
const secret = randomBytes(32);
const other = randomBytes(32);

describe('visitor token format', () => {
  it('is v1.<personId>.<expiryMs>.<base64url HMAC-SHA256 of the rest>', () => {
    const t = signToken(secret, 'p-42', NOW + 1000);
    const expected = createHmac('sha256', secret)
      .update(`v1.p-42.${NOW + 1000}`)
      .digest('base64url');
    expect(t).toBe(`v1.p-42.${NOW + 1000}.${expected}`);
    expect(verifyToken(t, [secret], NOW)).toEqual({ ok: true, personId: 'p-42', expiryMs: NOW + 1000, secretIndex: 0 });
  });

  it('keeps person ids with dots and colons intact (parsed from both ends)', () => {
    const t = signToken(secret, 'crm.contact:7', NOW + 5000);
    expect(parseToken(t)?.personId).toBe('crm.contact:7');
    expect(verifyToken(t, [secret], NOW)).toMatchObject({ ok: true, personId: 'crm.contact:7' });
  });

  it('refuses to sign with a short secret or an id outside the alphabet', () => {
    expect(() => signToken(randomBytes(16), 'p', NOW)).toThrow(/32 bytes/);
    expect(() => signToken(secret, 'a b', NOW)).toThrow(/person/);
    expect(() => signToken(secret, '', NOW)).toThrow(/person/);
  });
});

describe('verifyToken rejects', () => {
  const good = signToken(secret, 'p-42', NOW + 60_000);
  const [v, person, expiry, sig] = good.split('.') as [string, string, string, string];

  it('a tampered person id, expiry or signature as bad-sig', () => {
    expect(verifyToken(`${v}.p-43.${expiry}.${sig}`, [secret], NOW)).toEqual({ ok: false, reason: 'bad-sig' });
    expect(verifyToken(`${v}.${person}.${Number(expiry) + 1}.${sig}`, [secret], NOW)).toEqual({ ok: false, reason: 'bad-sig' });
    // Every character of the signature matters, the last one (2 spare bits in base64) included.
    for (const i of [0, 20, sig.length - 1]) {
      for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_') {
        if (sig[i] === c) continue;
        const forged = `${sig.slice(0, i)}${c}${sig.slice(i + 1)}`;
        expect(verifyToken(`${v}.${person}.${expiry}.${forged}`, [secret], NOW), `sig[${i}]=${c}`).toEqual({ ok: false, reason: 'bad-sig' });
      }
    }
  });

  it('a token of another account (another secret) as bad-sig', () => {
    expect(verifyToken(signToken(other, 'p-42', NOW + 60_000), [secret], NOW)).toEqual({ ok: false, reason: 'bad-sig' });
  });

  it('truncated or misshapen tokens as malformed', () => {
    for (const bad of [
      good.slice(0, -1),
      good.slice(0, good.lastIndexOf('.')),
      `${good}=`,
      good.replace(/^v1/, 'v2'),
      `v1..${expiry}.${sig}`,
      `v1.${person}.0${expiry}.${sig}`,
      `v1.${person}.-5.${sig}`,
      `v1.${person}.${expiry}`,
      'v1',
      '',
      'x'.repeat(1000),
      `v1.${'p'.repeat(129)}.${expiry}.${sig}`,
    ]) {
      expect(verifyToken(bad, [secret], NOW), JSON.stringify(bad)).toEqual({ ok: false, reason: 'malformed' });
    }
  });

  it('an expired token as expired, but only once its signature is good', () => {
    const expired = signToken(secret, 'p-42', NOW);
    expect(verifyToken(expired, [secret], NOW)).toEqual({ ok: false, reason: 'expired' });
    expect(verifyToken(expired, [secret], NOW - 1)).toMatchObject({ ok: true });
    expect(verifyToken(signToken(other, 'p-42', NOW - 10), [secret], NOW)).toEqual({ ok: false, reason: 'bad-sig' });
  });
});

describe('rotation', () => {
  it('verifies tokens of the previous secret and says which secret signed', () => {
    const old = signToken(other, 'p-1', NOW + 1000);
    expect(verifyToken(old, [secret, other], NOW)).toEqual({ ok: true, personId: 'p-1', expiryMs: NOW + 1000, secretIndex: 1 });
    expect(verifyToken(old, [secret], NOW)).toEqual({ ok: false, reason: 'bad-sig' });
  });
});

describe('lifetimes and revocation', () => {
  it('defaults to 30 days and caps at 365', () => {
    expect(DEFAULT_TOKEN_TTL_MS).toBe(30 * 86_400_000);
    expect(expiryFor(NOW)).toBe(NOW + 30 * 86_400_000);
    expect(expiryFor(NOW, MAX_TOKEN_TTL_MS)).toBe(NOW + 365 * 86_400_000);
    expect(() => expiryFor(NOW, MAX_TOKEN_TTL_MS + 1)).toThrow(RangeError);
    expect(() => expiryFor(NOW, 0)).toThrow(RangeError);
  });

  it('revokes every token that could have been minted before the erasure', () => {
    const erasedAt = NOW;
    expect(revokedByErasure(erasedAt + MAX_TOKEN_TTL_MS, erasedAt)).toBe(true);
    expect(revokedByErasure(erasedAt - 1, erasedAt)).toBe(true);
    expect(revokedByErasure(erasedAt + MAX_TOKEN_TTL_MS + 1, erasedAt)).toBe(false);
    expect(revokedByErasure(NOW + 1000, undefined)).toBe(false);
  });
});

describe('the mxy_v cookie', () => {
  it('has exactly the contract attributes', () => {
    expect(tokenCookie('v1.p.1.x')).toBe('mxy_v=v1.p.1.x; Max-Age=2592000; Path=/; HttpOnly; Secure; SameSite=Lax');
  });
});
