-- The current person of each visitor: the newest identity edge (argMax by ts).
SELECT visitor_id AS visitorId, argMax(person_id, ts) AS personId
FROM identity_edges
WHERE account_id = {account:String} AND visitor_id IN {visitors:Array(String)}
GROUP BY visitor_id
