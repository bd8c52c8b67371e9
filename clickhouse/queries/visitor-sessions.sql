-- Sessions per visitor, for the rows an engagement queue shows (never for every visitor).
SELECT visitor_id AS visitorId, uniqExact(session_id) AS sessionCount
FROM sessions
WHERE account_id = {account:String} AND visitor_id IN {visitors:Array(String)}
GROUP BY visitor_id
