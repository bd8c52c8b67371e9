-- Every sample raises the peak of its day, week and month.
CREATE MATERIALIZED VIEW IF NOT EXISTS presence_peaks_mv {on_cluster} TO presence_peaks AS
SELECT
  account_id,
  p.1 AS period,
  p.2 AS period_start,
  peak
FROM presence_samples
ARRAY JOIN [('day', toDate(ts)), ('week', toMonday(ts)), ('month', toStartOfMonth(ts))] AS p;
