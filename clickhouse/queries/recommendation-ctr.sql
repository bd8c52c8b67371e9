-- recommendation-ctr over [from, to): per listing, impressions = distinct
-- (rec_id, listing, session_id) in recommendations, clicks = distinct (rec_id, listing,
-- session_id) among recommendation clicks; ctr = clicks / impressions (NULL without impressions).
-- Each side is counted by its own time; the totals row is the sum (keys include the listing).
-- Impressions: (rec_id, listing, session_id) is the sort key of the ReplacingMergeTree, so FINAL
-- leaves one row per key (the newest report, the row a merge keeps) and a count is the distinct
-- count. It merges only the key ranges that overlap across parts: no hash set per listing.
-- Clicks repeat per key (a double click), so they are counted by the keys' 64-bit hash: half the
-- work of hashing string pairs, and a collision is negligible at millions of clicks.
WITH
  imp AS (
    SELECT listing, count() AS n
    FROM recommendations FINAL
    WHERE account_id = {account:String} AND ts >= {from:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')}
    GROUP BY listing
  ),
  clk AS (
    SELECT listing, uniqExact(cityHash64(rec_id, session_id)) AS n
    FROM recommendation_clicks
    WHERE account_id = {account:String} AND ts >= {from:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')}
    GROUP BY listing
  )
SELECT
  listing AS listingSlug,
  imp.n AS impressions,
  clk.n AS clicks,
  if(imp.n = 0, NULL, clk.n / imp.n) AS ctr
FROM imp
FULL OUTER JOIN clk USING (listing)
ORDER BY impressions DESC, clicks DESC, listingSlug ASC
LIMIT 10000
