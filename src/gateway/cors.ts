import { AccountRegistry, type Account } from '../domain/account.js';

/** CORS answer headers for an origin an account allows (credentials allowed, so never `*`). */
export function corsHeaders(origin: string | undefined): Record<string, string> {
  if (!origin) return {};
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-credentials': 'true',
    vary: 'Origin',
  };
}

/** True when some account publishes this origin (for preflights, which carry no account). */
export function anyAccountAllows(accounts: readonly Account[], origin: string): boolean {
  return accounts.some((a) => AccountRegistry.originAllowed(a, origin));
}
