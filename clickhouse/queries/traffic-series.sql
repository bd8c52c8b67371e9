-- traffic-series: page views and distinct visitors per hour or per day over [from, to), buckets
-- starting at the local hour or midnight of the time zone {tz}. Every bucket is present (zeros
-- where nothing happened): the buckets are the distinct starts of the hours of the window, so a
-- day is 23 or 25 hours long across a DST change, as the operator's calendar has it.
-- The first bucket starts at or before {from}: it counts its whole hour or day.
-- visitors: distinct visitor ids with any event in the bucket (heartbeats count: they were there).
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
