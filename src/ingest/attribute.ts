import { isbot } from 'isbot';
import { BoundedMemo } from '../domain/bounded-memo.js';
import { userAgentFacts, type IngestContext, type UserAgentFacts } from '../domain/event.normalize.js';
import type { Account } from '../domain/account.js';
import { TOKEN_COOKIE } from '../domain/visitor-token.js';
import type { IngestRequest, IngestPorts } from './ports.js';

/** What one user agent string says: worked out once per distinct agent. */
interface AgentFacts extends UserAgentFacts {
  bot: boolean;
}

/**
 * isbot() runs one very long regular expression and the family and device rules a few more;
 * browsers send few distinct user agents, so the answers are remembered per agent (bounded:
 * cleared when full; long ones are not kept).
 */
const agents = new BoundedMemo<AgentFacts>(10_000, 512);

export function agentFacts(ua: string): AgentFacts {
  return agents.get(ua, () => ({ ...userAgentFacts(ua), bot: !ua || isbot(ua) }));
}

/** First value of one cookie in a Cookie header, without building a map of all of them. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/**
 * Step 2, attribute: who sent the request, once per request whatever its number of events: the
 * person of a verified `mxy_v` cookie (or the one the caller already verified), the salted IP
 * hash, the user agent's family and device, the trusted proxy's country.
 */
export async function attribute(ports: IngestPorts, account: Account, req: IngestRequest, now: number, personId?: string): Promise<IngestContext> {
  const userAgent = req.headers['user-agent'] ?? '';
  const agent = agentFacts(userAgent);
  const person = personId ?? (await ports.identity.personFromCookie(account, cookieValue(req.headers.cookie, TOKEN_COOKIE), now));
  return {
    receivedAt: now,
    userAgent,
    ua: agent,
    ipHash: ports.ipHasher.hashSync(req.ip, now) ?? (await ports.ipHasher.hash(req.ip, now)),
    countryHeader: req.viaTrustedProxy ? (req.headers['cf-ipcountry'] ?? req.headers['x-country-code']) : undefined,
    personId: person,
  };
}
