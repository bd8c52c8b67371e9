import type { Account } from '../domain/account.js';
import { ForbiddenError, UnauthorizedError } from '../errors.js';
import type { GatewayContext } from './context.js';
import type { RequestInfo } from './http.js';

/** The admin key of a request: `Authorization: Bearer <key>`, or `?key=` where headers are impossible (WebSocket, browser). */
export function adminKeyOf(req: Pick<RequestInfo, 'headers' | 'query'>): string {
  const auth = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)$/i.exec(auth);
  return m ? m[1]! : (req.query.get('key') ?? '');
}

/**
 * The account an admin request may act on. One key reaches exactly one account: a key of
 * another account, or a `?account=` naming another account, is refused.
 */
export function requireAdmin(ctx: GatewayContext, req: Pick<RequestInfo, 'headers' | 'query'>): Account {
  const key = adminKeyOf(req);
  if (!key) throw new UnauthorizedError('admin key required (Authorization: Bearer <key>)');
  const account = ctx.accounts.byAdminKey(key);
  if (!account) throw new UnauthorizedError('unknown admin key');
  const asked = req.query.get('account');
  if (asked && asked !== account.id) throw new ForbiddenError('this key does not reach that account');
  return account;
}

/**
 * An admin request's query as the object its zod schema reads: without `key` and `account`,
 * which belong to the credential. `skipEmpty`: a parameter given empty (`?page=`) is absent.
 */
export function adminQuery(q: URLSearchParams, { skipEmpty = false } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of q) if (k !== 'key' && k !== 'account' && !(skipEmpty && v === '')) out[k] = v;
  return out;
}
