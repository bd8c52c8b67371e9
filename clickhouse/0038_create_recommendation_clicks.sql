-- Clicks on recommended listings (click events carrying a rec id), narrow and time-ordered
-- for CTR windows. Impressions are the recommendations table. The flusher never inserts an
-- event twice, so a replayed batch adds no click here either.
CREATE TABLE IF NOT EXISTS recommendation_clicks {on_cluster} (
  account_id  LowCardinality(String),
  ts          DateTime64(3, 'UTC'),
  listing     String,
  rec_id      String,
  session_id  String,
  visitor_id  String,
  person_id   String,
  event_id    UUID
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (account_id, ts, listing);
