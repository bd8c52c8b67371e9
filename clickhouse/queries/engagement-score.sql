-- engagement-score (the nurture queue): people and unbound visitors ranked by
-- recency × depth × dwell. The formula lives in the engagement_scores view (migration 0040),
-- documented in src/domain/engagement.ts; the parameters come from there and the account.
SELECT
  kind,
  who,
  arraySort(visitors) AS visitors,
  toUnixTimestamp64Milli(last_seen) AS lastSeenMs,
  page_views AS pageViews,
  scroll_milestones AS scrollMilestones,
  dwell_ms AS dwellMs,
  age_days AS ageDays,
  recency,
  depth,
  dwell,
  score
FROM engagement_scores(
  account = {account:String},
  at_ms = {at_ms:Int64},
  half_life_days = {half_life_days:Float64},
  milestone_weight = {milestone_weight:Float64},
  dwell_unit_s = {dwell_unit_s:Float64}
)
WHERE {include:String} = 'all' OR kind = 'person'
ORDER BY score DESC, who ASC
LIMIT {limit:UInt32}
