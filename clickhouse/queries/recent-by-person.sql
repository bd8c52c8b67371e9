-- recent-by-person: the newest sessions of one person across every visitor (device) whose
-- newest identity edge points at them, plus visitors known only from the person's signed
-- cookie at ingest. Reads the sessions aggregate, not raw events.
WITH
  bound AS (
    SELECT visitor_id
    FROM identity_edges
    WHERE account_id = {account:String}
    GROUP BY visitor_id
    HAVING argMax(person_id, ts) = {person:String}
  ),
  cookie_only AS (
    SELECT DISTINCT visitor_id
    FROM visitor_engagement
    WHERE account_id = {account:String}
      AND person_id = {person:String}
      AND visitor_id NOT IN (SELECT visitor_id FROM identity_edges WHERE account_id = {account:String})
  )
SELECT
  session_id AS sessionId,
  max(visitor_id) AS visitorId,
  toUnixTimestamp64Milli(min(first_seen)) AS firstSeenMs,
  toUnixTimestamp64Milli(max(last_seen)) AS lastSeenMs,
  sum(events) AS eventCount,
  sum(page_views) AS pageViews,
  sum(clicks) AS clickCount,
  max(max_depth) AS maxDepth,
  sum(dwell_ms) AS dwellMs,
  argMinMerge(entry_path) AS entryPath,
  argMaxMerge(exit_path) AS exitPath,
  argMinMerge(referrer) AS referrerUrl,
  argMinMerge(referrer_host) AS referrerHost,
  argMinMerge(channel) AS entryChannel,
  max(device) AS deviceClass,
  max(ua_family) AS browser,
  max(country) AS countryCode
FROM sessions
WHERE account_id = {account:String}
  AND visitor_id IN (SELECT visitor_id FROM bound UNION ALL SELECT visitor_id FROM cookie_only)
GROUP BY session_id
ORDER BY lastSeenMs DESC, sessionId ASC
LIMIT {limit:UInt32}
