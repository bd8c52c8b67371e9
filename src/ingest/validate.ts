import { AccountRegistry, type Account } from '../domain/account.js';
import { MAX_EVENTS_PER_REQUEST, zBeaconEvent, type BeaconEvent } from '../domain/event.schema.js';
import { describeIssues, ForbiddenOriginError, TooManyEventsError, UnknownAccountError, ValidationError } from '../errors.js';

/**
 * Step 1, validate: a decoded body (one event or `{ "events": [ … ] }`) → events of one known
 * account. One schema pass per event: the body's shape is checked by hand, not by a second schema.
 */
export function validateEvents(body: unknown, accounts: AccountRegistry): { account: Account; events: BeaconEvent[] } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError(`body must be an event object or { "events": [ … ] }`);
  }
  const batch = (body as { events?: unknown }).events;
  const raw: unknown[] = Array.isArray(batch) && batch.length > 0 ? batch : [body];
  if (raw.length > MAX_EVENTS_PER_REQUEST) throw new TooManyEventsError(`at most ${MAX_EVENTS_PER_REQUEST} events per request, got ${raw.length}`);
  const events: BeaconEvent[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const parsed = zBeaconEvent.safeParse(raw[i]);
    if (!parsed.success) throw new ValidationError(describeIssues(parsed.error.issues, raw.length > 1 ? `events.${i}.` : ''));
    events[i] = parsed.data;
  }
  const named = events[0]!.account;
  for (let i = 1; i < events.length; i++) {
    if (events[i]!.account !== named) throw new ValidationError('all events of one request must belong to one account');
  }
  const account = accounts.get(named);
  if (!account) throw new UnknownAccountError(`unknown account ${named}`);
  return { account, events };
}

/** A browser's `Origin` must be one of the account's published origins (none: a server or a pixel). */
export function checkOrigin(account: Account, origin: string | undefined): void {
  if (origin && !AccountRegistry.originAllowed(account, origin)) {
    throw new ForbiddenOriginError(`origin ${origin} is not allowed for account ${account.id}`);
  }
}
