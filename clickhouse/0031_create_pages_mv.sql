-- Feeds pages from every page view. An empty title ranks oldest, so it never hides a real one.
CREATE MATERIALIZED VIEW IF NOT EXISTS pages_mv {on_cluster} TO pages AS
SELECT
  account_id,
  path,
  argMaxState(title, if(title = '', toDateTime64(0, 3, 'UTC'), ts)) AS title,
  max(listing) AS listing,
  min(ts) AS first_seen,
  max(ts) AS last_seen
FROM events
WHERE type = 'pageview'
GROUP BY account_id, path;
