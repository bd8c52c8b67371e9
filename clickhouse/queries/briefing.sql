-- briefing: who was on the site since {since}, one row per person (all their visitors
-- together) or unbound visitor, newest activity first, each with the pages they looked at
-- (newest first, at most {pages}). One scan of the window's raw events (a briefing covers hours
-- or days; partition and part min/max pruning on ts keep it to the parts that overlap), joined
-- to two small maps: current identity edges, and visitors a signed cookie named.
WITH
  edges AS (
    SELECT visitor_id, argMax(person_id, ts) AS edge_person
    FROM identity_edges
    WHERE account_id = {account:String}
    GROUP BY visitor_id
  ),
  cookies AS (
    SELECT visitor_id, max(person_id) AS cookie_person
    FROM visitor_engagement
    WHERE account_id = {account:String} AND person_id != ''
    GROUP BY visitor_id
  ),
  per_page AS (
    SELECT
      kind, who, path,
      groupUniqArray(visitor_id) AS page_visitors,
      groupUniqArray(session_id) AS page_sessions,
      count() AS page_events,
      countIf(type = 'pageview') AS views,
      sum(dwell_ms) AS page_dwell,
      argMaxIf(title, ts, title != '') AS page_title,
      maxIf(listing, type = 'pageview') AS slug,
      min(ts) AS first,
      max(ts) AS last
    FROM (
      SELECT
        ev.visitor_id AS visitor_id, ev.session_id AS session_id, ev.ts AS ts, ev.type AS type,
        ev.path AS path, ev.title AS title, ev.listing AS listing, ev.dwell_ms AS dwell_ms,
        if(e.edge_person != '', e.edge_person, c.cookie_person) AS resolved,
        if(resolved != '', 'person', 'visitor') AS kind,
        if(resolved != '', resolved, ev.visitor_id) AS who
      FROM (
        SELECT visitor_id, session_id, ts, type, path, title, listing, dwell_ms
        FROM events
        WHERE account_id = {account:String} AND ts >= {since:DateTime64(3, 'UTC')} AND visitor_id != ''
      ) AS ev
      LEFT JOIN edges AS e ON e.visitor_id = ev.visitor_id
      LEFT JOIN cookies AS c ON c.visitor_id = ev.visitor_id
    )
    GROUP BY kind, who, path
  )
SELECT
  kind,
  who,
  arraySort(arrayDistinct(arrayFlatten(groupArray(page_visitors)))) AS visitors,
  length(arrayDistinct(arrayFlatten(groupArray(page_sessions)))) AS sessionCount,
  sum(page_events) AS eventCount,
  sum(views) AS pageViews,
  sum(page_dwell) AS dwellMs,
  toUnixTimestamp64Milli(min(first)) AS firstSeenMs,
  toUnixTimestamp64Milli(max(last)) AS lastSeenMs,
  count() AS pageCount,
  arraySlice(
    arraySort(x -> (-x.5, x.1), groupArray((path, page_title, slug, views, toUnixTimestamp64Milli(last)))),
    1, {pages:UInt32}) AS pages
FROM per_page
GROUP BY kind, who
ORDER BY lastSeenMs DESC, who ASC
LIMIT {limit:UInt32}
