-- session-detail: the full ordered timeline of one session, read by the events sort-key
-- prefix (account_id, session_id, ts).
-- Order: time, then arrival (received_at: of two events with the same client time, the one sent
-- first), then, for events of one request with the same time (server-side events without a
-- time, times clamped to the accepted window), the order a page view's events happen in: the
-- page view, then scroll milestones and heartbeats, then actions, then the end of the page view
-- (nav, leave). event_id only makes the rest stable; it is random and says nothing of order.
SELECT
  toString(event_id) AS eventId,
  toUnixTimestamp64Milli(ts) AS tsMs,
  type,
  visitor_id AS visitorId,
  person_id AS cookiePersonId,
  path,
  url,
  title,
  referrer AS referrerUrl,
  referrer_host AS referrerHost,
  channel,
  label,
  depth,
  dwell_ms AS dwellMs,
  listing AS listingSlug,
  rec_id AS recId,
  props,
  device AS deviceClass,
  ua_family AS browser,
  country AS countryCode
FROM events
WHERE account_id = {account:String} AND session_id = {session:String}
ORDER BY ts ASC, received_at ASC,
  multiIf(type = 'pageview', 0, type IN ('scroll', 'heartbeat'), 1, type IN ('nav', 'leave'), 3, 2) ASC,
  event_id ASC
LIMIT {limit:UInt32}
