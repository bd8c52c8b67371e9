-- Peak concurrent visitors per account and UTC day, ISO week (starting Monday) and month.
-- Filled from presence_samples by presence_peaks_mv; read with max(peak) … GROUP BY.
CREATE TABLE IF NOT EXISTS presence_peaks {on_cluster} (
  account_id    LowCardinality(String),
  period        LowCardinality(String),
  period_start  Date,
  peak          SimpleAggregateFunction(max, UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(period_start)
ORDER BY (account_id, period, period_start);
