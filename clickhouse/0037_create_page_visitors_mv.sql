-- Every event on a path counts: page views as views, heartbeats and scrolls for last seen and depth.
-- Events without a visitor id belong to no visitor (see visitor_engagement_mv).
CREATE MATERIALIZED VIEW IF NOT EXISTS page_visitors_mv {on_cluster} TO page_visitors AS
SELECT
  account_id,
  path,
  visitor_id,
  max(person_id) AS person_id,
  min(ts) AS first_seen,
  max(ts) AS last_seen,
  countIf(type = 'pageview') AS views,
  max(depth) AS max_depth,
  sum(dwell_ms) AS dwell_ms
FROM events
WHERE visitor_id != ''
GROUP BY account_id, path, visitor_id;
