-- What the recommender showed (impressions), reported through POST /api/recommendations or
-- backfilled from logs. Clicks are events (type = 'click' with rec_id and listing set).
-- One row per (account, rec, listing, session): a re-report or a backfill re-run replaces.
CREATE TABLE IF NOT EXISTS recommendations {on_cluster} (
  account_id  LowCardinality(String),
  rec_id      String,
  listing     String,
  session_id  String,
  visitor_id  String,
  person_id   String,
  ts          DateTime64(3, 'UTC'),
  source      LowCardinality(String)
)
ENGINE = ReplacingMergeTree(ts)
PARTITION BY toYYYYMM(ts)
ORDER BY (account_id, rec_id, listing, session_id);
