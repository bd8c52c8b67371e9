import { createHmac, timingSafeEqual } from 'node:crypto';
import { OPAQUE_ID_RE } from './ids.js';

/**
 * Signed visitor tokens: `v1.<personId>.<expiryMs>.<sig>`, where sig is the base64url
 * HMAC-SHA256 of `v1.<personId>.<expiryMs>` under the account's 32-byte secret. A person id
 * reaches the gateway only inside such a token. Pure: no I/O; secrets are passed in.
 */

export const TOKEN_VERSION = 'v1';
export const SECRET_BYTES = 32;
/** Lifetime of a minted token unless asked otherwise (also the `mxy_v` cookie's Max-Age). */
export const DEFAULT_TOKEN_TTL_MS = 30 * 86_400_000;
/** Longest lifetime a token may be minted with; revocation after erasure relies on this cap. */
export const MAX_TOKEN_TTL_MS = 365 * 86_400_000;

export type RejectReason = 'bad-sig' | 'expired' | 'malformed' | 'revoked';

export type TokenCheck =
  | { ok: true; personId: string; expiryMs: number; /** 0 = current secret, 1 = previous (rotation). */ secretIndex: number }
  | { ok: false; reason: RejectReason };

const SIG_LEN = 43; // base64url of 32 bytes, unpadded
const MAX_TOKEN_LEN = 3 + 128 + 1 + 15 + 1 + SIG_LEN;
const EXPIRY_RE = /^[1-9][0-9]{0,14}$/;
const SIG_RE = /^[A-Za-z0-9_-]{43}$/;

function mac(secret: Buffer, payload: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest();
}

/** Sign a token for `personId` valid until `expiryMs` (epoch ms). */
export function signToken(secret: Buffer, personId: string, expiryMs: number): string {
  if (secret.length !== SECRET_BYTES) throw new Error(`token secret must be ${SECRET_BYTES} bytes`);
  if (!OPAQUE_ID_RE.test(personId)) throw new Error('invalid person id');
  if (!Number.isSafeInteger(expiryMs) || !EXPIRY_RE.test(String(expiryMs))) throw new Error('invalid expiry');
  const payload = `${TOKEN_VERSION}.${personId}.${expiryMs}`;
  return `${payload}.${mac(secret, payload).toString('base64url')}`;
}

export interface ParsedToken {
  payload: string;
  personId: string;
  expiryMs: number;
  /** The signature as sent (base64url text, compared as text so no other encoding of it passes). */
  sig: Buffer;
}

/** Split a token into its parts, or undefined when it is not shaped like a v1 token. */
export function parseToken(token: string): ParsedToken | undefined {
  if (token.length > MAX_TOKEN_LEN || !token.startsWith(`${TOKEN_VERSION}.`)) return undefined;
  const sigDot = token.lastIndexOf('.');
  const expDot = token.lastIndexOf('.', sigDot - 1);
  if (expDot <= TOKEN_VERSION.length) return undefined;
  const personId = token.slice(TOKEN_VERSION.length + 1, expDot);
  const expiry = token.slice(expDot + 1, sigDot);
  const sig = token.slice(sigDot + 1);
  if (!OPAQUE_ID_RE.test(personId) || !EXPIRY_RE.test(expiry) || sig.length !== SIG_LEN || !SIG_RE.test(sig)) return undefined;
  const expiryMs = Number(expiry);
  if (!Number.isSafeInteger(expiryMs)) return undefined;
  return { payload: token.slice(0, sigDot), personId, expiryMs, sig: Buffer.from(sig, 'latin1') };
}

/**
 * Verify a token against the account's secrets (current first, then the previous one during a
 * rotation). The signature is compared in constant time and checked before the expiry, so a
 * forged token is `bad-sig` whatever expiry it claims. Revocation needs Redis: see
 * {@link revokedByErasure}, applied by the caller to tokens that pass here.
 */
export function verifyToken(token: string, secrets: readonly Buffer[], nowMs: number): TokenCheck {
  const parsed = parseToken(token);
  if (!parsed) return { ok: false, reason: 'malformed' };
  let secretIndex = -1;
  for (let i = 0; i < secrets.length; i++) {
    // No early exit on a match: the work done does not depend on which secret signed. The
    // base64url text is compared, not its decoded bytes: the last character carries 2 unused
    // bits, so decoding would accept 4 spellings of one signature.
    if (timingSafeEqual(Buffer.from(mac(secrets[i]!, parsed.payload).toString('base64url'), 'latin1'), parsed.sig) && secretIndex < 0) secretIndex = i;
  }
  if (secretIndex < 0) return { ok: false, reason: 'bad-sig' };
  if (parsed.expiryMs <= nowMs) return { ok: false, reason: 'expired' };
  return { ok: true, personId: parsed.personId, expiryMs: parsed.expiryMs, secretIndex };
}

/**
 * Erasure revokes every token of the person that could have been minted before it: one whose
 * expiry is at most `erasedAtMs + MAX_TOKEN_TTL_MS` (a token lives at most that long).
 */
export function revokedByErasure(expiryMs: number, erasedAtMs: number | undefined): boolean {
  return erasedAtMs !== undefined && Number.isFinite(erasedAtMs) && expiryMs <= erasedAtMs + MAX_TOKEN_TTL_MS;
}

/** The expiry of a token minted now with `ttlMs` (default 30 days, at most 365 days). */
export function expiryFor(nowMs: number, ttlMs: number = DEFAULT_TOKEN_TTL_MS): number {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0 || ttlMs > MAX_TOKEN_TTL_MS) throw new RangeError(`ttlMs must be 1..${MAX_TOKEN_TTL_MS}`);
  return nowMs + ttlMs;
}

/** Cookie that carries the token after a click (30 days, first-party, not readable by scripts). */
export const TOKEN_COOKIE = 'mxy_v';
export const TOKEN_COOKIE_MAX_AGE_S = 2_592_000;

export function tokenCookie(token: string): string {
  return `${TOKEN_COOKIE}=${token}; Max-Age=${TOKEN_COOKIE_MAX_AGE_S}; Path=/; HttpOnly; Secure; SameSite=Lax`;
}
