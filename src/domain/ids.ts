/**
 * Every id the service accepts, written once: one alphabet and one zod schema per id. The beacon,
 * the admin API, the CLI, tokens, jobs and log lines all take their ids from here, and the Lua
 * scripts rely on the alphabets (test/unit/ids.test.ts holds them and the snippet equal to this).
 */
import { z } from 'zod';

/** Account ids: lower-case, also used inside Redis key hash tags and ClickHouse parameters. */
export const ACCOUNT_ID_RE = /^[a-z0-9-]{1,64}$/;
/**
 * Opaque ids (session, visitor, person, recommendation): never `|`, which the presence scripts
 * use to join `visitorId|sessionId`, and never a space or control character.
 */
export const OPAQUE_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
/** A listing slug: URL-safe characters only (it is pasted into a URL path). */
export const LISTING_SLUG_RE = /^[A-Za-z0-9._~-]{1,256}$/;
/** A visitor trait such as home region, for presence breakdowns. */
export const SEGMENT_RE = /^[A-Za-z0-9 _.-]{1,64}$/;

const opaque = (message = 'expected 1-128 of [A-Za-z0-9._:-]') => z.string().regex(OPAQUE_ID_RE, message);

export const zAccountId = z.string().regex(ACCOUNT_ID_RE, 'account id must match [a-z0-9-]{1,64}');
export const zSessionId = opaque();
export const zVisitorId = opaque();
/**
 * Person ids. Dots are allowed (e.g. `crm.42`): a visitor token is parsed from both ends, so only
 * its version, expiry and signature positions are fixed.
 */
export const zPersonId = opaque('personId must be 1-128 of [A-Za-z0-9._:-]');
export const zRecId = opaque();
export const zListingSlug = z.string().regex(LISTING_SLUG_RE, 'listing must be a URL slug');
export const zSegment = z.string().regex(SEGMENT_RE);
