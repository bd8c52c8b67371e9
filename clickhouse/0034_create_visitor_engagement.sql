-- Per-visitor engagement parts, the inputs of the engagement score (src/domain/engagement.ts):
-- last seen, page views, scroll milestones reached, engaged dwell. Person-level results
-- resolve visitors through identity_edges at query time. Session counts come from `sessions`
-- (a per-visitor set of session ids here would double the cost of ranking every visitor).
CREATE TABLE IF NOT EXISTS visitor_engagement {on_cluster} (
  account_id         LowCardinality(String),
  visitor_id         String,
  person_id          SimpleAggregateFunction(max, String),
  first_seen         SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
  last_seen          SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
  events             SimpleAggregateFunction(sum, UInt64),
  page_views         SimpleAggregateFunction(sum, UInt64),
  -- Scroll events carrying a milestone (25/50/75/100; the snippet sends each once per page view).
  scroll_milestones  SimpleAggregateFunction(sum, UInt64),
  max_depth          SimpleAggregateFunction(max, UInt8),
  dwell_ms           SimpleAggregateFunction(sum, UInt64)
)
-- Not partitioned by month: a visitor spanning a month boundary would stay split in two partitions.
ENGINE = AggregatingMergeTree
ORDER BY (account_id, visitor_id);
