-- Tables that hold rows of persons: what an erasure rewrites must leave the disk soon, and the
-- mutations that did it must not pile up.
-- old_parts_lifetime = 10: the parts an ALTER … DELETE replaced (they still hold the deleted
--   rows) are removed 10 s after, not after the default 480 s. The default protects against
--   losing a merged part that had not reached the disk at a power cut; here the merged part's
--   files are fsynced first (min_rows_to_fsync_after_merge = 1, merges and mutations alike), and
--   10 s is past ext4's 5 s journal commit of the part's directory.
-- finished_mutations_to_keep = 1: finished mutation records (system.mutations, mutation_N.txt)
--   are trimmed at each cleanup. Erasure mutations name only a staging table and the account,
--   never an id, but there is no reason to keep them.
ALTER TABLE events {on_cluster} MODIFY SETTING old_parts_lifetime = 10, finished_mutations_to_keep = 1, min_rows_to_fsync_after_merge = 1;
ALTER TABLE identity_edges {on_cluster} MODIFY SETTING old_parts_lifetime = 10, finished_mutations_to_keep = 1, min_rows_to_fsync_after_merge = 1;
ALTER TABLE recommendations {on_cluster} MODIFY SETTING old_parts_lifetime = 10, finished_mutations_to_keep = 1, min_rows_to_fsync_after_merge = 1;
ALTER TABLE sessions {on_cluster} MODIFY SETTING old_parts_lifetime = 10, finished_mutations_to_keep = 1, min_rows_to_fsync_after_merge = 1;
ALTER TABLE visitor_engagement {on_cluster} MODIFY SETTING old_parts_lifetime = 10, finished_mutations_to_keep = 1, min_rows_to_fsync_after_merge = 1;
ALTER TABLE page_visitors {on_cluster} MODIFY SETTING old_parts_lifetime = 10, finished_mutations_to_keep = 1, min_rows_to_fsync_after_merge = 1;
ALTER TABLE recommendation_clicks {on_cluster} MODIFY SETTING old_parts_lifetime = 10, finished_mutations_to_keep = 1, min_rows_to_fsync_after_merge = 1;
