-- The pages of a path, or every path whose page views carried a listing slug (recent-by-page).
-- Exactly one of {path} / {listing} is non-empty.
SELECT
  path,
  argMaxMerge(title) AS pageTitle,
  max(listing) AS listingSlug
FROM pages
WHERE account_id = {account:String}
  AND ({path:String} = '' OR path = {path:String})
GROUP BY path
HAVING {listing:String} = '' OR listingSlug = {listing:String}
ORDER BY path
LIMIT 1000
