-- One row per erasure job run: when, which job, how many rows of each kind were removed.
-- Deliberately no personal data: no person id, no visitor or session ids, not even a hash.
-- `tables` maps a table name to the rows deleted from it; the other counts are Redis-side.
CREATE TABLE IF NOT EXISTS erasure_receipts {on_cluster} (
  account_id        LowCardinality(String),
  job_id            String,
  erased_at         DateTime64(3, 'UTC'),
  attempt           UInt16,
  tables            Map(String, UInt64),
  total_rows        UInt64,
  visitors          UInt32,
  sessions          UInt32,
  stream_entries    UInt32,
  presence_entries  UInt32
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(erased_at)
ORDER BY (account_id, erased_at, job_id);
