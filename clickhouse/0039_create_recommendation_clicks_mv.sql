CREATE MATERIALIZED VIEW IF NOT EXISTS recommendation_clicks_mv {on_cluster} TO recommendation_clicks AS
SELECT account_id, ts, listing, rec_id, session_id, visitor_id, person_id, event_id
FROM events
WHERE type = 'click' AND rec_id != '';
