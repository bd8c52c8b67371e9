-- traffic-series: page views and distinct visitors per hour or per day over [from, to), in the
-- buckets of series-buckets (local hours or midnights of {tz}, every bucket present, zeros where
-- nothing happened).
-- visitors: distinct visitor ids with any event in the bucket (heartbeats count: they were there).
WITH
  -- @include "series-buckets"
  counts AS (
    SELECT
      if({bucket:String} = 'day', toStartOfDay(toDateTime(ts), {tz:String}), toStartOfHour(toDateTime(ts), {tz:String})) AS bucket,
      countIf(type = 'pageview') AS pageViews,
      uniqExactIf(visitor_id, visitor_id != '') AS visitors
    FROM events
    WHERE account_id = {account:String}
      AND ts >= (SELECT min(bucket) FROM buckets)
      AND ts < {to:DateTime64(3, 'UTC')}
    GROUP BY bucket
  )
SELECT
  toUnixTimestamp(buckets.bucket) * 1000 AS t,
  counts.pageViews AS pageViews,
  counts.visitors AS visitors
FROM buckets
LEFT JOIN counts ON counts.bucket = buckets.bucket
ORDER BY t
