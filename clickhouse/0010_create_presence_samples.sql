-- One concurrency sample per account per minute, written by the presence sweeper.
-- online / authenticated / anonymous: counts at the sample time; peak: the highest online count
-- since the previous sample (tracked in Redis at every join, so short peaks are not missed);
-- cross_segment: online visitors on a page of a segment other than their own.
-- A sample re-sent for the same minute replaces the first.
CREATE TABLE IF NOT EXISTS presence_samples {on_cluster} (
  account_id     LowCardinality(String),
  ts             DateTime('UTC'),
  online         UInt32,
  authenticated  UInt32,
  anonymous      UInt32,
  peak           UInt32,
  cross_segment  UInt32
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (account_id, ts);
