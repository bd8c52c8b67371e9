-- series-buckets: the buckets of a chart series per hour or per day over [from, to), for
-- traffic-series and ctr-series. Buckets start at the local hour or midnight of the time zone
-- {tz}, and every bucket is present: they are the distinct starts of the hours of the window,
-- so a day is 23 or 25 hours long across a DST change, as the operator's calendar has it.
-- The first bucket starts at or before {from}: it counts its whole hour or day.
-- Two CTEs ending in a comma, included first in a WITH list; the series counts its rows from
-- (SELECT min(bucket) FROM buckets) to {to}, each in the bucket of the same expression:
--   if({bucket:String} = 'day', toStartOfDay(toDateTime(ts), {tz:String}), toStartOfHour(toDateTime(ts), {tz:String}))
  hours AS (
    SELECT toStartOfHour(toDateTime({from:DateTime64(3, 'UTC')}), {tz:String}) + toIntervalHour(number) AS h
    FROM numbers(toUInt64(dateDiff('hour', {from:DateTime64(3, 'UTC')}, {to:DateTime64(3, 'UTC')}) + 1))
  ),
  buckets AS (
    SELECT DISTINCT if({bucket:String} = 'day', toStartOfDay(h, {tz:String}), h) AS bucket
    FROM hours
    WHERE h < {to:DateTime64(3, 'UTC')}
  ),
