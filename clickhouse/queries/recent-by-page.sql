-- recent-by-page: who looked at these paths, newest first, one row per person (all their
-- visitors together) or per unbound visitor. Reads the page_visitors aggregate.
WITH
  per_visitor AS (
    SELECT
      visitor_id,
      max(person_id) AS cookie_person,
      min(first_seen) AS first,
      max(last_seen) AS last,
      sum(views) AS v,
      max(max_depth) AS d,
      sum(dwell_ms) AS dw,
      groupUniqArray(path) AS ps
    FROM page_visitors
    WHERE account_id = {account:String} AND path IN {paths:Array(String)}
    GROUP BY visitor_id
  ),
  edges AS (
    SELECT visitor_id, argMax(person_id, ts) AS edge_person
    FROM identity_edges
    WHERE account_id = {account:String} AND visitor_id IN (SELECT visitor_id FROM per_visitor)
    GROUP BY visitor_id
  )
SELECT
  kind,
  who,
  arraySort(groupUniqArray(visitor_id)) AS visitors,
  toUnixTimestamp64Milli(min(first)) AS firstSeenMs,
  toUnixTimestamp64Milli(max(last)) AS lastSeenMs,
  sum(v) AS views,
  max(d) AS maxDepth,
  sum(dw) AS dwellMs,
  arraySort(arrayDistinct(arrayFlatten(groupArray(ps)))) AS paths
FROM (
  SELECT
    pv.visitor_id AS visitor_id, pv.first AS first, pv.last AS last, pv.v AS v, pv.d AS d, pv.dw AS dw, pv.ps AS ps,
    if(e.edge_person != '', e.edge_person, pv.cookie_person) AS resolved,
    if(resolved != '', 'person', 'visitor') AS kind,
    if(resolved != '', resolved, pv.visitor_id) AS who
  FROM per_visitor AS pv
  LEFT JOIN edges AS e ON e.visitor_id = pv.visitor_id
)
GROUP BY kind, who
ORDER BY lastSeenMs DESC, who ASC
LIMIT {limit:UInt32}
