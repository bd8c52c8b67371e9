-- Events without a visitor id (a click link opened by an unknown browser, backfilled clicks)
-- belong to no visitor: they count for CTR and session timelines only.
CREATE MATERIALIZED VIEW IF NOT EXISTS visitor_engagement_mv {on_cluster} TO visitor_engagement AS
SELECT
  account_id,
  visitor_id,
  max(person_id) AS person_id,
  min(ts) AS first_seen,
  max(ts) AS last_seen,
  count() AS events,
  countIf(type = 'pageview') AS page_views,
  countIf(type = 'scroll' AND depth > 0) AS scroll_milestones,
  max(depth) AS max_depth,
  sum(dwell_ms) AS dwell_ms
FROM events
WHERE visitor_id != ''
GROUP BY account_id, visitor_id;
