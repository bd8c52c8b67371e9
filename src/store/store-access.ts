import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { STORE_USERS, type StoreCredentials, type StoreUser } from '../adapters/secrets/store-credentials.js';
import { storeError } from './store-errors.js';

/** `localhost`, any `127.x.y.z`, `[::1]`, each with an optional port. */
const LOOPBACK_HOST = /^(?:localhost|127(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}|\[::1\])(?::\d{1,5})?$/i;

/**
 * Only loopback clients that are not browsers. A foreign `Host` is what a page reaching the port
 * through DNS rebinding sends; an `Origin` (or a `Sec-Fetch-Site` other than `none`) is what a
 * browser adds to a cross-site request, including a blind form POST.
 */
export function checkRequestSource(headers: IncomingHttpHeaders): void {
  const host = headers.host;
  if (typeof host !== 'string' || !LOOPBACK_HOST.test(host)) {
    throw storeError(497, 'ACCESS_DENIED', 'the store answers only requests whose Host is a loopback name (localhost, 127.0.0.1, [::1])');
  }
  if (headers.origin !== undefined) throw storeError(497, 'ACCESS_DENIED', 'the store refuses requests that carry an Origin header (browsers)');
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'none') throw storeError(497, 'ACCESS_DENIED', 'the store refuses requests sent by a browser on behalf of a site');
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The user and password a request offers, in any of ClickHouse's HTTP ways. */
function offered(headers: IncomingHttpHeaders, params: URLSearchParams): { user: string; password: string } | undefined {
  const auth = header(headers, 'authorization');
  if (auth && /^basic /i.test(auth)) {
    const text = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const colon = text.indexOf(':');
    return colon < 0 ? { user: text, password: '' } : { user: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  const hUser = header(headers, 'x-clickhouse-user');
  const hKey = header(headers, 'x-clickhouse-key');
  if (hUser !== undefined || hKey !== undefined) return { user: hUser ?? 'default', password: hKey ?? '' };
  const qUser = params.get('user');
  const qPassword = params.get('password');
  if (qUser !== null || qPassword !== null) return { user: qUser ?? 'default', password: qPassword ?? '' };
  return undefined;
}

/**
 * Which store user the request authenticates as (basic auth, `X-ClickHouse-User`/`-Key`, or
 * `user`/`password` parameters, as ClickHouse accepts). Compared in constant time over digests.
 */
export function authenticate(headers: IncomingHttpHeaders, params: URLSearchParams, credentials: StoreCredentials): StoreUser {
  const o = offered(headers, params);
  const name = o?.user || 'default';
  if (o) {
    const given = digest(o.password);
    for (const user of STORE_USERS) {
      // Every user is compared, so the time taken does not say which name exists.
      const match = timingSafeEqual(given, digest(credentials[user]));
      if (match && o.user === user) return user;
    }
  }
  throw storeError(516, 'AUTHENTICATION_FAILED', `${name.slice(0, 64)}: Authentication failed: password is incorrect, or there is no user with such name`);
}
