-- Identity edges: anonymous browser (visitor) → known person. Compact: one row per pair,
-- re-bindings keep the newest time. A visitor's current person is argMax(person_id, ts);
-- older pairs stay as history. Attribution resolves through this table at query time, so
-- binding is retroactive without rewriting events.
CREATE TABLE IF NOT EXISTS identity_edges {on_cluster} (
  account_id  LowCardinality(String),
  visitor_id  String,
  person_id   String,
  source      LowCardinality(String),
  confidence  Float32,
  ts          DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ts)
ORDER BY (account_id, visitor_id, person_id);
