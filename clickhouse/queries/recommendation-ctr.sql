-- recommendation-ctr over [from, to): per listing, impressions = distinct
-- (rec_id, listing, session_id) in recommendations, clicks = distinct (rec_id, listing,
-- session_id) among recommendation clicks; ctr = clicks / impressions (NULL without impressions).
-- Each side is counted by its own time; the totals row is the sum (keys include the listing).
-- Distinct keys are counted by their 64-bit hash: half the work of hashing string pairs, and a
-- collision is negligible at millions of impressions.
WITH
  imp AS (
    SELECT listing, uniqExact(cityHash64(rec_id, session_id)) AS n
    FROM recommendations
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
