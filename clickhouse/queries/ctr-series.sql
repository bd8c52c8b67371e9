-- ctr-series: recommendation impressions, clicks and CTR per hour or per day over [from, to),
-- bucketed like traffic-series (local hours or midnights of {tz}, every bucket present).
-- Counted as recommendation-ctr counts them: distinct (rec_id, session_id, listing) on each side,
-- each side by its own time; ctr = clicks / impressions, NULL in a bucket without impressions.
WITH
  hours AS (
    SELECT toStartOfHour(toDateTime({from:DateTime64(3, 'UTC')}), {tz:String}) + toIntervalHour(number) AS h
    FROM numbers(toUInt64(dateDiff('hour', {from:DateTime64(3, 'UTC')}, {to:DateTime64(3, 'UTC')}) + 1))
  ),
  buckets AS (
    SELECT DISTINCT if({bucket:String} = 'day', toStartOfDay(h, {tz:String}), h) AS bucket
    FROM hours
    WHERE h < {to:DateTime64(3, 'UTC')}
  ),
  imp AS (
    SELECT
      if({bucket:String} = 'day', toStartOfDay(toDateTime(ts), {tz:String}), toStartOfHour(toDateTime(ts), {tz:String})) AS bucket,
      uniqExact(cityHash64(rec_id, session_id, listing)) AS n
    FROM recommendations
    WHERE account_id = {account:String} AND ts >= (SELECT min(bucket) FROM buckets) AND ts < {to:DateTime64(3, 'UTC')}
    GROUP BY bucket
  ),
  clk AS (
    SELECT
      if({bucket:String} = 'day', toStartOfDay(toDateTime(ts), {tz:String}), toStartOfHour(toDateTime(ts), {tz:String})) AS bucket,
      uniqExact(cityHash64(rec_id, session_id, listing)) AS n
    FROM recommendation_clicks
    WHERE account_id = {account:String} AND ts >= (SELECT min(bucket) FROM buckets) AND ts < {to:DateTime64(3, 'UTC')}
    GROUP BY bucket
  )
SELECT
  toUnixTimestamp(buckets.bucket) * 1000 AS t,
  imp.n AS impressions,
  clk.n AS clicks,
  if(imp.n = 0, NULL, clk.n / imp.n) AS ctr
FROM buckets
LEFT JOIN imp ON imp.bucket = buckets.bucket
LEFT JOIN clk ON clk.bucket = buckets.bucket
ORDER BY t
