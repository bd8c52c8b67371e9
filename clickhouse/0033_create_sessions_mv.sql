-- Every event updates its session: entry/exit page and referrer are those of the first/last
-- event by time, whatever order the inserts arrive in.
CREATE MATERIALIZED VIEW IF NOT EXISTS sessions_mv {on_cluster} TO sessions AS
SELECT
  account_id,
  session_id,
  visitor_id,
  max(person_id) AS person_id,
  min(ts) AS first_seen,
  max(ts) AS last_seen,
  count() AS events,
  countIf(type = 'pageview') AS page_views,
  countIf(type = 'click') AS clicks,
  max(depth) AS max_depth,
  sum(dwell_ms) AS dwell_ms,
  argMinState(path, ts) AS entry_path,
  argMaxState(path, ts) AS exit_path,
  argMinState(referrer, ts) AS referrer,
  argMinState(referrer_host, ts) AS referrer_host,
  argMinState(CAST(channel AS String), ts) AS channel,
  max(device) AS device,
  max(ua_family) AS ua_family,
  max(country) AS country
FROM events
GROUP BY account_id, session_id, visitor_id;
