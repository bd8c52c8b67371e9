-- The engagement score, in SQL, as a parameterised view: the one SQL form of the formula in
-- src/domain/engagement.ts (read it there; a test holds the two equal). The admin API
-- (clickhouse/queries/engagement-score.sql) and Grafana both select from it.
--   score   = recency × depth × dwell
--   recency = 2^(−age_days / half_life_days), age from the newest event of the person/visitor
--   depth   = log2(1 + page_views + milestone_weight × scroll_milestones)
--   dwell   = log2(2 + engaged_seconds / dwell_unit_s)
-- A person is every visitor whose newest identity edge points at them (argMax by ts), else the
-- person their signed cookie named at ingest; an unbound visitor stands alone (kind = 'visitor').
-- visitors (unsorted) are the visitor ids of the person. Output columns avoid the names
-- visitor_id / person_id / session_id on purpose: a view holds no rows.
CREATE VIEW IF NOT EXISTS engagement_scores {on_cluster} AS
SELECT
  kind,
  who,
  visitors,
  last_seen,
  page_views,
  scroll_milestones,
  dwell_ms,
  age_days,
  pow(2, -age_days / {half_life_days:Float64}) AS recency,
  log2(1 + page_views + {milestone_weight:Float64} * scroll_milestones) AS depth,
  log2(2 + dwell_ms / 1000 / {dwell_unit_s:Float64}) AS dwell,
  recency * depth * dwell AS score
FROM (
  SELECT
    if(resolved != '', 'person', 'visitor') AS kind,
    if(resolved != '', resolved, visitor_id) AS who,
    groupArray(visitor_id) AS visitors,
    max(seen) AS last_seen,
    sum(pv) AS page_views,
    sum(sm) AS scroll_milestones,
    sum(dw) AS dwell_ms,
    greatest(0, ({at_ms:Int64} - toUnixTimestamp64Milli(last_seen)) / 86400000) AS age_days
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
);
