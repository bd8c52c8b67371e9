-- Per-session aggregates (one browser tab session), fed by sessions_mv. Rows of one session
-- from several inserts are combined at merge time; readers GROUP BY session_id and use the
-- -Merge functions for the state columns. visitor_id / person_id / session_id are plain
-- values so erasure finds and deletes a person's rows here.
CREATE TABLE IF NOT EXISTS sessions {on_cluster} (
  account_id     LowCardinality(String),
  session_id     String,
  visitor_id     String,
  -- Person known at ingest (signed cookie); identity_edges attribute the rest at query time.
  person_id      SimpleAggregateFunction(max, String),
  first_seen     SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
  last_seen      SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
  events         SimpleAggregateFunction(sum, UInt64),
  page_views     SimpleAggregateFunction(sum, UInt64),
  clicks         SimpleAggregateFunction(sum, UInt64),
  max_depth      SimpleAggregateFunction(max, UInt8),
  -- Engaged milliseconds: each page view reports its dwell once, at its end.
  dwell_ms       SimpleAggregateFunction(sum, UInt64),
  entry_path     AggregateFunction(argMin, String, DateTime64(3, 'UTC')),
  exit_path      AggregateFunction(argMax, String, DateTime64(3, 'UTC')),
  referrer       AggregateFunction(argMin, String, DateTime64(3, 'UTC')),
  referrer_host  AggregateFunction(argMin, String, DateTime64(3, 'UTC')),
  channel        AggregateFunction(argMin, String, DateTime64(3, 'UTC')),
  device         SimpleAggregateFunction(max, LowCardinality(String)),
  ua_family      SimpleAggregateFunction(max, LowCardinality(String)),
  country        SimpleAggregateFunction(max, LowCardinality(String)),
  INDEX idx_visitor visitor_id TYPE bloom_filter(0.01) GRANULARITY 4,
  INDEX idx_last_seen last_seen TYPE minmax GRANULARITY 4
)
-- Not partitioned by month: a sessions spanning a month boundary would stay split in two partitions.
ENGINE = AggregatingMergeTree
ORDER BY (account_id, session_id, visitor_id);
