-- Who looked at which page: one row per (account, path, visitor) after merges, for
-- recent-by-page and top pages. Listing pages are found through pages.listing.
CREATE TABLE IF NOT EXISTS page_visitors {on_cluster} (
  account_id  LowCardinality(String),
  path        String,
  visitor_id  String,
  person_id   SimpleAggregateFunction(max, String),
  first_seen  SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
  last_seen   SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
  views       SimpleAggregateFunction(sum, UInt64),
  max_depth   SimpleAggregateFunction(max, UInt8),
  dwell_ms    SimpleAggregateFunction(sum, UInt64),
  INDEX idx_visitor visitor_id TYPE bloom_filter(0.01) GRANULARITY 4
)
-- Not partitioned by month: a page visitor spanning a month boundary would stay split in two partitions.
ENGINE = AggregatingMergeTree
ORDER BY (account_id, path, visitor_id);
