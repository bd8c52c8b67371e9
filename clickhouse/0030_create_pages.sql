-- Content metadata: one row per (account, path) after merges. It carries NO visitor, person or
-- session id, so erasure of a person leaves it untouched ("pages and listings stay").
-- title is the newest non-empty title; listing the slug a page view of this path carried.
CREATE TABLE IF NOT EXISTS pages {on_cluster} (
  account_id  LowCardinality(String),
  path        String,
  title       AggregateFunction(argMax, String, DateTime64(3, 'UTC')),
  listing     SimpleAggregateFunction(max, String),
  first_seen  SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
  last_seen   SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (account_id, path);
