-- session-detail: the full ordered timeline of one session, read by the events sort-key
-- prefix (account_id, session_id, ts).
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
ORDER BY ts ASC, event_id ASC
LIMIT {limit:UInt32}
