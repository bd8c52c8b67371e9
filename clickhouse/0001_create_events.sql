-- Raw accepted events, one row each. Column names are public: Grafana and SQL users depend on them.
-- person_id is the person known at ingest (signed cookie); identity_edges attribute the rest retroactively.
CREATE TABLE IF NOT EXISTS events {on_cluster} (
  account_id    LowCardinality(String),
  event_id      UUID,
  ts            DateTime64(3, 'UTC'),
  received_at   DateTime64(3, 'UTC'),
  type          LowCardinality(String),
  session_id    String,
  visitor_id    String,
  person_id     String,
  path          String,
  url           String,
  title         String,
  referrer      String,
  label         String,
  depth         UInt8,
  dwell_ms      UInt32,
  listing       String,
  rec_id        String,
  segment       LowCardinality(String),
  props         String,
  ua_family     LowCardinality(String),
  device        LowCardinality(String),
  referrer_host String,
  channel       LowCardinality(String),
  country       LowCardinality(String),
  ip_hash       String,
  INDEX idx_event_id event_id TYPE bloom_filter(0.01) GRANULARITY 4,
  INDEX idx_visitor visitor_id TYPE bloom_filter(0.01) GRANULARITY 4,
  INDEX idx_person person_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (account_id, session_id, ts, event_id);
