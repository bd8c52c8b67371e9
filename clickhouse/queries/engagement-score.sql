-- engagement-score (the nurture queue): people and unbound visitors ranked by
-- recency × depth × dwell, the formula of the engagement_scores view (migration 0040, documented
-- in src/domain/engagement.ts; a test holds this query, the view and the TypeScript equal). The
-- parameters come from there and the account.
-- Same answer as `SELECT … FROM engagement_scores(…) ORDER BY score DESC, who LIMIT n`, in two
-- branches so that the many unbound visitors are neither joined nor grouped a second time:
-- - unbound: visitors with no identity edge and no cookie person. Their score is their own, so
--   only the top `limit` of them can reach the queue, and that branch is cut there.
-- - bound: the visitors with an edge or a cookie person (few), resolved and grouped per person
--   as in the view; a visitor whose edges name no one still stands alone.
-- The candidate set names a visitor more than once at times; IN only asks membership.
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
FROM (
  SELECT
    kind,
    who,
    visitors,
    last_seen,
    page_views,
    scroll_milestones,
    dwell_ms,
    greatest(0, ({at_ms:Int64} - toUnixTimestamp64Milli(last_seen)) / 86400000) AS age_days,
    pow(2, -age_days / {half_life_days:Float64}) AS recency,
    log2(1 + page_views + {milestone_weight:Float64} * scroll_milestones) AS depth,
    log2(2 + dwell_ms / 1000 / {dwell_unit_s:Float64}) AS dwell,
    recency * depth * dwell AS score
  FROM (
    SELECT
      'visitor' AS kind,
      visitor_id AS who,
      [visitor_id] AS visitors,
      max(last_seen) AS last_seen,
      sum(page_views) AS page_views,
      sum(scroll_milestones) AS scroll_milestones,
      sum(dwell_ms) AS dwell_ms
    FROM visitor_engagement
    WHERE account_id = {account:String} AND {include:String} = 'all'
      AND visitor_id NOT IN (
        SELECT visitor_id FROM identity_edges WHERE account_id = {account:String}
        UNION ALL
        SELECT visitor_id FROM visitor_engagement WHERE account_id = {account:String} AND person_id != ''
      )
    GROUP BY visitor_id
    ORDER BY
      pow(2, -greatest(0, ({at_ms:Int64} - toUnixTimestamp64Milli(last_seen)) / 86400000) / {half_life_days:Float64})
        * log2(1 + page_views + {milestone_weight:Float64} * scroll_milestones)
        * log2(2 + dwell_ms / 1000 / {dwell_unit_s:Float64}) DESC,
      who ASC
    LIMIT {limit:UInt32}
    UNION ALL
    SELECT
      if(resolved != '', 'person', 'visitor') AS kind,
      if(resolved != '', resolved, visitor_id) AS who,
      groupArray(visitor_id) AS visitors,
      max(seen) AS last_seen,
      sum(pv) AS page_views,
      sum(sm) AS scroll_milestones,
      sum(dw) AS dwell_ms
    FROM (
      SELECT v.visitor_id AS visitor_id, v.seen AS seen, v.pv AS pv, v.sm AS sm, v.dw AS dw,
        if(e.edge_person != '', e.edge_person, v.cookie_person) AS resolved
      FROM (
        SELECT
          visitor_id,
          max(person_id) AS cookie_person,
          max(last_seen) AS seen,
          sum(page_views) AS pv,
          sum(scroll_milestones) AS sm,
          sum(dwell_ms) AS dw
        FROM visitor_engagement
        WHERE account_id = {account:String}
          AND visitor_id IN (
            SELECT visitor_id FROM identity_edges WHERE account_id = {account:String}
            UNION ALL
            SELECT visitor_id FROM visitor_engagement WHERE account_id = {account:String} AND person_id != ''
          )
        GROUP BY visitor_id
      ) AS v
      LEFT JOIN (
        SELECT visitor_id, argMax(person_id, ts) AS edge_person
        FROM identity_edges
        WHERE account_id = {account:String}
        GROUP BY visitor_id
      ) AS e ON e.visitor_id = v.visitor_id
    )
    GROUP BY kind, who
  )
  WHERE {include:String} = 'all' OR kind = 'person'
  ORDER BY score DESC, who ASC
  LIMIT {limit:UInt32}
)
ORDER BY score DESC, who ASC
-- The candidate sets are spread over the whole visitor key range: reading the primary index for
-- them only costs time.
-- JIT: by default a set of aggregate functions is compiled after its third run, inside the next
-- query (~130-170 ms of CPU for this query's aggregations, once per store process and shape): a
-- spike in the middle of the series. Compiled on the first run instead. Expressions are not
-- compiled: their cache key holds the constants and at_ms changes on every call.
SETTINGS use_index_for_in_with_subqueries = 0, min_count_to_compile_aggregate_expression = 0, compile_expressions = 0
