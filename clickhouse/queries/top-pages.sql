-- top-pages: the most viewed paths over [from, to): page views, distinct viewers and the newest
-- non-empty title of each, most views first (ties by path).
SELECT
  path,
  count() AS pageViews,
  uniqExactIf(visitor_id, visitor_id != '') AS visitors,
  argMaxIf(title, ts, title != '') AS title
FROM events
WHERE account_id = {account:String}
  AND type = 'pageview'
  AND ts >= {from:DateTime64(3, 'UTC')}
  AND ts < {to:DateTime64(3, 'UTC')}
GROUP BY path
ORDER BY pageViews DESC, path ASC
LIMIT {limit:UInt32}
