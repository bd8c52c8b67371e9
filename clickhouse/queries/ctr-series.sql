-- ctr-series: recommendation impressions, clicks and CTR per hour or per day over [from, to), in
-- the buckets of series-buckets (local hours or midnights of {tz}, every bucket present).
-- Counted as recommendation-ctr counts them: distinct (rec_id, session_id, listing) on each side,
-- each side by its own time; ctr = clicks / impressions, NULL in a bucket without impressions.
WITH
  -- @include "series-buckets"
  counts AS (
    SELECT
      if({bucket:String} = 'day', toStartOfDay(toDateTime(ts), {tz:String}), toStartOfHour(toDateTime(ts), {tz:String})) AS bucket,
      uniqExactIf(k, NOT click) AS impressions,
      uniqExactIf(k, click) AS clicks
    FROM (
      SELECT ts, cityHash64(rec_id, session_id, listing) AS k, false AS click FROM recommendations WHERE account_id = {account:String}
      UNION ALL
      SELECT ts, cityHash64(rec_id, session_id, listing) AS k, true AS click FROM recommendation_clicks WHERE account_id = {account:String}
    )
    WHERE ts >= (SELECT min(bucket) FROM buckets) AND ts < {to:DateTime64(3, 'UTC')}
    GROUP BY bucket
  )
SELECT
  toUnixTimestamp(buckets.bucket) * 1000 AS t,
  counts.impressions AS impressions,
  counts.clicks AS clicks,
  if(counts.impressions = 0, NULL, counts.clicks / counts.impressions) AS ctr
FROM buckets
LEFT JOIN counts ON counts.bucket = buckets.bucket
ORDER BY t
