-- recorded-peaks: the highest concurrency the presence sweeper recorded for the current UTC day,
-- ISO week (from Monday) and month; one row per period that has a peak.
SELECT period, max(peak) AS peak
FROM presence_peaks
WHERE account_id = {account:String}
  AND ((period = 'day' AND period_start = toDate(now('UTC')))
    OR (period = 'week' AND period_start = toMonday(now('UTC')))
    OR (period = 'month' AND period_start = toStartOfMonth(now('UTC'))))
GROUP BY period
