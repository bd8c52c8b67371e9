-- What a receipt also says: whether the disk was clean when the job ended (outdated parts still
-- waiting for removal, the Redis append-only file rewritten or not), and what the service cannot
-- reach at all (log files the operator keeps, backups). Still no personal data.
ALTER TABLE erasure_receipts {on_cluster} ADD COLUMN IF NOT EXISTS old_parts_left UInt32 DEFAULT 0;
ALTER TABLE erasure_receipts {on_cluster} ADD COLUMN IF NOT EXISTS aof LowCardinality(String) DEFAULT '';
ALTER TABLE erasure_receipts {on_cluster} ADD COLUMN IF NOT EXISTS outside_reach Array(String) DEFAULT [];
