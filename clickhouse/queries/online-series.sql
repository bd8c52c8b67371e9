-- online-series: the per-minute concurrency samples of the presence sweeper over [from, to).
-- FINAL: a sample re-sent for the same minute replaces the first, also before the merge.
SELECT
  toUnixTimestamp(ts) * 1000 AS t,
  online,
  authenticated,
  anonymous,
  peak
FROM presence_samples FINAL
WHERE account_id = {account:String}
  AND ts >= {from:DateTime64(3, 'UTC')}
  AND ts < {to:DateTime64(3, 'UTC')}
ORDER BY ts
LIMIT 50000
